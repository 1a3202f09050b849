import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync, type BigIntStats } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { firstNonDirParent, PERMISSION_BITS, placeFile, placeSymlink, pruneEmptyParents } from "../shared/fs.ts";
import type { FileRow } from "../shared/protocol.ts";
import { conflictName, statSignature, type PullPlan } from "./pull-plan.ts";
import type { BaseEntry } from "./state.ts";

/** What applying a pull changed: base entries to write, base entries to drop, and `--keep-both` copies. */
export interface Applied {
  put: BaseEntry[];
  forget: string[];
  kept: string[];
}

/**
 * Applies a pull plan to the tree at `top`, one path at a time: deletions first, then new content
 * from `staged`. Just before its own change each path is checked again: nothing among its parents
 * may be a symlink or a file (a pull never writes through a link), and its lstat must be what the
 * plan saw (an editor saving right now wins). A path failing either check moves from `take` or
 * `remove` to `conflicts`. A file new to the tree is created so that one appearing meanwhile is
 * never replaced. A symlink row is made from its target, never from `staged`. `onPath` runs
 * before each path's check (a test seam).
 */
export function applyPull(
  top: string,
  staged: string,
  plan: PullPlan,
  opts: { at?: Date; onPath?: (path: string) => void; modes?: boolean } = {},
): Applied {
  const out: Applied = { put: [], forget: plan.forget.map((r) => r.path), kept: [] };
  const safeDirs = new Set<string>();
  const keepBoth = new Set(plan.keepBoth);
  const ready = (r: FileRow, createParents: boolean) => {
    opts.onPath?.(r.path);
    const ok =
      _parentsAreDirs(top, r.path, safeDirs, createParents) && (keepBoth.has(r.path) || statSignature(top, r.path) === plan.seen.get(r.path));
    if (!ok) plan.conflicts.push(r);
    return ok;
  };
  const keepAside = (path: string) => {
    const copy = conflictName(path, hostname(), opts.at ?? new Date());
    renameSync(join(top, path), join(top, copy));
    out.kept.push(copy);
  };
  plan.remove = plan.remove.filter((r) => {
    if (!ready(r, false)) return false;
    rmSync(join(top, r.path), { force: true });
    pruneEmptyParents(top, r.path);
    out.forget.push(r.path);
    return true;
  });
  for (const r of plan.forget) if (keepBoth.has(r.path) && ready(r, false)) keepAside(r.path);
  plan.take = plan.take.filter((r) => {
    if (!ready(r, true)) return false;
    if (keepBoth.has(r.path)) keepAside(r.path);
    const target = join(top, r.path);
    const replace = !keepBoth.has(r.path) && plan.seen.get(r.path) !== "absent";
    try {
      if (r.link !== undefined) placeSymlink(r.link, target, { replace });
      else placeFile(join(staged, r.path), target, { replace });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      plan.conflicts.push(r); // created here after the plan looked
      return false;
    }
    out.put.push(_entryFor(r, lstatSync(target, { bigint: true })));
    return true;
  });
  // A filesystem without Unix modes (Windows) is left alone: the table's modes are not this copy's to keep.
  if (opts.modes !== false) for (const r of plan.chmod) chmodSync(join(top, r.path), r.mode & PERMISSION_BITS);
  for (const r of plan.adopt) out.put.push(_entryFor(r, lstatSync(join(top, r.path), { bigint: true })));
  return out;
}

// ---------------------------------------------------------------------------

/** The base entry for row `r` whose file (or symlink) now has lstat `st`. */
function _entryFor(r: FileRow, st: BigIntStats): BaseEntry {
  const entry: BaseEntry = {
    path: r.path,
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    md5: r.md5,
    mode: Number(st.mode) & 0o7777,
    rev: r.rev,
    checkedNs: BigInt(Date.now()) * 1_000_000n,
  };
  if (r.link !== undefined) entry.link = r.link;
  return entry;
}

/**
 * True when every directory above `path` is a real directory (not a symlink, not a file), making
 * missing ones when `create` (then checking them again); `safe` remembers those found real.
 */
function _parentsAreDirs(top: string, path: string, safe: Set<string>, create: boolean): boolean {
  for (let blocked = firstNonDirParent(top, path, safe); blocked; blocked = firstNonDirParent(top, path, safe)) {
    if (blocked.kind !== "missing") return false;
    if (!create) return true; // nothing can be below a missing directory
    try {
      mkdirSync(join(top, blocked.rel));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  return true;
}
