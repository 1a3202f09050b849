import { lstatSync, type BigIntStats } from "node:fs";
import { extname, join } from "node:path";
import { firstNonDirParent, isGone, PERMISSION_BITS, readSymlink } from "../shared/fs.ts";
import { md5Bytes, md5File } from "../shared/hash.ts";
import type { FileRow } from "../shared/protocol.ts";
import { statIsTrusted, type BaseEntry } from "./state.ts";

/** What a pull will do with each changed row from the server. */
export interface PullPlan {
  /** Rows whose content is downloaded and put in place. */
  take: FileRow[];
  /** Server deletions applied to clean local files. */
  remove: FileRow[];
  /** Rows whose content the tree already has (record them in the base, move nothing). */
  adopt: FileRow[];
  /** Of `adopt`, files whose permission bits changed on the server and not here: chmod them (never a symlink). */
  chmod: FileRow[];
  /** Rows already gone on both sides (drop the base entry). */
  forget: FileRow[];
  /** Rows that would overwrite or delete a local change; left alone. */
  conflicts: FileRow[];
  /** Paths whose local copy is renamed aside first (`--keep-both`). */
  keepBoth: string[];
  /**
   * What each path's lstat said when planned (see statSignature), or "absent" for a directory this
   * pull's deletions are to take away: checked again just before acting.
   */
  seen: Map<string, string>;
}

/** A path's lstat as a comparable string ("absent" when there is nothing there). */
export function statSignature(top: string, path: string): string {
  const st = lstatSync(join(top, path), { bigint: true, throwIfNoEntry: false });
  return st ? `${st.mode}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : "absent";
}

/**
 * Classifies server rows against the tree, looking only at the paths that changed (stat first,
 * md5 when the stat moved; a symlink by its target). A row meets one of: clean local file or
 * symlink, or nothing here → take/remove; same content (the same bytes, or the same target) →
 * adopt; a directory → take once this pull's deletions emptied it away; a local edit, a local
 * new file, a directory still in the way or a symlink among its parents → conflict (with
 * `keepBoth`, a conflicting file or symlink is renamed aside and the server's version taken).
 */
export function planPull(top: string, rows: readonly FileRow[], base: ReadonlyMap<string, BaseEntry>, keepBoth: boolean): PullPlan {
  const plan: PullPlan = { take: [], remove: [], adopt: [], chmod: [], forget: [], conflicts: [], keepBoth: [], seen: new Map() };
  const realDirs = new Set<string>();
  for (const row of rows) {
    const b = base.get(row.path);
    if (b && b.rev >= row.rev) continue;
    if (firstNonDirParent(top, row.path, realDirs)?.kind === "link") {
      plan.conflicts.push(row); // whatever is there lies outside the tree: never read, written or deleted
      continue;
    }
    plan.seen.set(row.path, statSignature(top, row.path));
    const local = _localState(top, row.path, b);
    if (local.kind === "absent") {
      (row.deleted ? plan.forget : plan.take).push(row);
    } else if (local.kind === "dir") {
      // A file or link where this tree has a directory: taken once this pull's deletions have emptied
      // the directory away (applyPull then finds the path absent, as planned here), else a conflict.
      if (row.deleted) plan.forget.push(row);
      else {
        plan.seen.set(row.path, "absent");
        plan.take.push(row);
      }
    } else if (!row.deleted && local.md5 === row.md5 && local.link === row.link) {
      plan.adopt.push(row);
      // A permission-only change on the server (chmod ±x) reaches this copy unless it was changed here too; a link has none of its own.
      const mode = local.mode & PERMISSION_BITS;
      const moved = mode !== (row.mode & PERMISSION_BITS) && (!b || mode === (b.mode & PERMISSION_BITS));
      if (moved && row.link === undefined) plan.chmod.push(row);
    } else if (local.kind === "clean") {
      (row.deleted ? plan.remove : plan.take).push(row);
    } else if (row.deleted && local.kind === "untracked") {
      continue;
    } else if (keepBoth && local.kind !== "blocked") {
      plan.keepBoth.push(row.path);
      (row.deleted ? plan.forget : plan.take).push(row);
    } else {
      plan.conflicts.push(row);
    }
  }
  return plan;
}

/** `dir/name.conflict-HOST-YYYYMMDD-HHMMSS.ext`: where `--keep-both` keeps the local copy. */
export function conflictName(path: string, host: string, at: Date): string {
  const ext = extname(path);
  const stem = ext ? path.slice(0, -ext.length) : path;
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  return `${stem}.conflict-${host.replace(/[^A-Za-z0-9_-]/g, "_")}-${stamp}${ext}`;
}

// ---------------------------------------------------------------------------

/** What is at a path now; `link` is a symlink's target (its md5 is the target's). */
type LocalState =
  | { kind: "absent"; md5?: undefined; link?: undefined }
  | { kind: "clean"; md5: string; mode: number; link?: string }
  | { kind: "modified" | "untracked"; md5: string | undefined; mode: number; link?: string }
  | { kind: "blocked" | "dir"; md5?: undefined; link?: undefined };

function _localState(top: string, path: string, b: BaseEntry | undefined): LocalState {
  let st: BigIntStats;
  try {
    st = lstatSync(join(top, path), { bigint: true });
  } catch (error) {
    // Only "not there" is absent; a path that cannot be looked at (EACCES, EIO) is never written over.
    return isGone(error) ? { kind: "absent" } : { kind: "blocked" };
  }
  const mode = Number(st.mode);
  if (st.isSymbolicLink()) return _localLink(join(top, path), b, mode);
  if (st.isDirectory()) return { kind: "dir" };
  if (!st.isFile()) return { kind: "blocked" };
  const wasLink = b?.link !== undefined; // a symlink replaced by a file: modified, whatever its bytes
  if (b && !wasLink && statIsTrusted(b, { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }))
    return { kind: "clean", md5: b.md5, mode };
  let md5: string;
  try {
    md5 = md5File(join(top, path));
  } catch {
    return { kind: "blocked" }; // unreadable: whatever it holds is not ours to replace
  }
  if (b && !wasLink && md5 === b.md5) return { kind: "clean", md5, mode };
  return { kind: b ? "modified" : "untracked", md5, mode };
}

/** A symlink's LocalState: clean while its target is the base's, read each time (readlink costs what an lstat does). */
function _localLink(abs: string, b: BaseEntry | undefined, mode: number): LocalState {
  let link: string;
  try {
    link = readSymlink(abs);
  } catch {
    return { kind: "blocked" }; // replaced meanwhile, or a target no repository can hold: not ours to replace
  }
  const md5 = md5Bytes(link);
  if (b?.link === link) return { kind: "clean", md5, mode, link };
  return { kind: b ? "modified" : "untracked", md5, mode, link };
}
