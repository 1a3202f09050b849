import { lstatSync, readdirSync, type BigIntStats, type Dirent } from "node:fs";
import { join } from "node:path";
import { md5Files } from "./hash.ts";
import type { IgnoreMatcher } from "./ignore.ts";
import { isTracked, walkStarts, type RootRule } from "./roots.ts";
import type { BaseEntry } from "./state.ts";

/** What lstat says about one tracked regular file. */
export interface FileStat {
  path: string;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
}

/** A tracked file with its content hash, when one was computed. */
export interface ScannedFile extends FileStat {
  md5?: string;
}

/** What changed against the base (DESIGN.md "Change detection"). */
export interface DirtySet {
  added: ScannedFile[];
  modified: ScannedFile[];
  deleted: BaseEntry[];
  /** Clean entries whose stat fields or check time moved: write them back so the next scan is cheap. */
  refreshed: BaseEntry[];
  /** Every tracked file found, clean or not (a `--force` push sends them all). */
  files: ScannedFile[];
  /** How many files were read and hashed. */
  hashed: number;
}

/**
 * A file whose mtime is this close to (or after) the scan that recorded it may have been
 * rewritten in the same timestamp tick without its stat changing ("racy clean", as in git).
 * Two seconds covers coarse kernel clocks and 1-2 s filesystem timestamp granularity.
 */
export const RACY_WINDOW_NS = 2_000_000_000n;

/**
 * Walks the tracked roots under `top` and lstats every tracked regular file. Ignored paths and
 * `.soc/` are skipped; symlinks and special files are skipped with one `warn` each, never followed.
 */
export function walkTracked(top: string, rules: readonly RootRule[], ignored: IgnoreMatcher, warn: (msg: string) => void): FileStat[] {
  const excluded = new Set(rules.filter((r) => r.kind === "exclude").map((r) => r.path));
  const out: FileStat[] = [];
  const visit = (rel: string, known?: EntryType): void => {
    if (excluded.has(rel)) return;
    const abs = rel === "" ? top : join(top, rel);
    const type = known ?? _typeOf(_lstat(abs));
    if (type === "dir") {
      if (rel !== "" && ignored(`${rel}/`)) return;
      const prefix = rel === "" ? "" : `${rel}/`;
      for (const child of _readdir(abs, warn)) visit(prefix + child.name, _direntType(child));
    } else if (type !== undefined && !ignored(rel)) {
      const st = type === "file" ? _lstat(abs) : undefined;
      if (st?.isFile()) out.push(_toFileStat(rel, st));
      else if (type !== "file") warn(`skipping ${type === "link" ? "symlink" : "special file"} ${JSON.stringify(rel)} (not followed, not tracked)`);
    }
  };
  for (const start of walkStarts(rules)) {
    const type = _typeOf(_lstat(start.path === "" ? top : join(top, start.path)));
    if (start.kind === "file" ? type !== "dir" : type === "dir" || type === "link") visit(start.path, type);
  }
  return out;
}

/**
 * Compares walked files with the base: stat first, md5 only when the stat moved or the entry
 * is racily clean. With `hashAdded`, files new to the base are hashed too (a push needs them).
 * Base entries missing from the walk but still tracked and present (e.g. now ignored) stay tracked.
 */
export async function diffAgainstBase(
  top: string,
  walked: FileStat[],
  base: ReadonlyMap<string, BaseEntry>,
  opts: { rules: readonly RootRule[]; hashAdded?: boolean; nowNs?: bigint },
): Promise<DirtySet> {
  const nowNs = opts.nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const files: ScannedFile[] = [...walked];
  const seen = new Set(walked.map((f) => f.path));
  const deleted: BaseEntry[] = [];
  for (const entry of base.values()) {
    if (seen.has(entry.path)) continue;
    const st = isTracked(opts.rules, entry.path) ? _lstat(join(top, entry.path)) : undefined;
    if (st?.isFile()) files.push(_toFileStat(entry.path, st));
    else deleted.push(entry);
  }
  const toHash = files.filter((f) => {
    const b = base.get(f.path);
    return b ? !_statMatches(b, f) || b.mtimeNs + RACY_WINDOW_NS > b.checkedNs : opts.hashAdded === true;
  });
  const hashedSet = new Set(toHash);
  const sums = await md5Files(toHash.map((f) => join(top, f.path)));
  toHash.forEach((f, i) => {
    f.md5 = sums[i] ?? undefined;
  });
  const added: ScannedFile[] = [];
  const modified: ScannedFile[] = [];
  const refreshed: BaseEntry[] = [];
  for (const f of files) {
    const b = base.get(f.path);
    if (!b) added.push(f);
    else if (f.md5 === undefined && hashedSet.has(f)) deleted.push(b);
    else if (f.md5 === undefined) f.md5 = b.md5;
    else if (f.md5 !== b.md5 || f.mode !== b.mode) modified.push(f);
    else refreshed.push({ ...b, size: f.size, mtimeNs: f.mtimeNs, ctimeNs: f.ctimeNs, checkedNs: nowNs });
  }
  return { added, modified, deleted, refreshed, files, hashed: toHash.length };
}

// ---------------------------------------------------------------------------

function _statMatches(b: BaseEntry, f: FileStat): boolean {
  return b.size === f.size && b.mtimeNs === f.mtimeNs && b.ctimeNs === f.ctimeNs;
}

function _toFileStat(path: string, st: BigIntStats): FileStat {
  return { path, size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, mode: Number(st.mode) & 0o7777 };
}

function _lstat(abs: string): BigIntStats | undefined {
  try {
    return lstatSync(abs, { bigint: true });
  } catch {
    return undefined;
  }
}

type EntryType = "file" | "dir" | "link" | "special";

function _typeOf(st: BigIntStats | undefined): EntryType | undefined {
  if (!st) return undefined;
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "special";
}

/** The entry's type from readdir's d_type; undefined when the filesystem did not say. */
function _direntType(d: Dirent): EntryType | undefined {
  if (d.isFile()) return "file";
  if (d.isDirectory()) return "dir";
  if (d.isSymbolicLink()) return "link";
  if (d.isFIFO() || d.isSocket() || d.isBlockDevice() || d.isCharacterDevice()) return "special";
  return undefined;
}

function _readdir(abs: string, warn: (msg: string) => void): Dirent[] {
  try {
    return readdirSync(abs, { withFileTypes: true });
  } catch (err) {
    warn(`cannot read directory ${abs}: ${(err as Error).message}`);
    return [];
  }
}
