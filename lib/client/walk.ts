import { lstatSync, readdirSync, type BigIntStats, type Dirent } from "node:fs";
import { join } from "node:path";
import { isBuiltinOnly, type IgnoreMatcher } from "./ignore.ts";
import { startStat, startTreeWalk, statCore, STAT_FIELDS, type PathBlock } from "./stat-core.ts";
import { walkStarts, type RootRule } from "./roots.ts";

/** What lstat says about one tracked regular file or symlink. */
export interface FileStat {
  path: string;
  /** A symlink's size is its target's length in bytes. */
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  /** A symlink: tracked as its target text, never followed. */
  symlink?: true;
}

/**
 * The tracked regular files and symlinks of a walk, without an object per file: `pathAt(i)` and `statAt(i)`
 * (STAT_FIELDS numbers, stat-core.ts) describe file i. Matched against a base, `match` holds each
 * file's index there, or -1; where the C core also compared them, `clean` marks the files whose
 * stat equals their settled base entry's, and only the others can be asked about.
 */
export interface WalkedFiles {
  count: number;
  pathAt(i: number): string;
  statAt(i: number): ArrayLike<number>;
  match?: Int32Array;
  clean?: Uint8Array;
}

/**
 * A walk whose directories are read and whose lstats may still be running; `finish` waits for
 * them, and matches the files against `against` on the way where the C core runs.
 */
export interface PendingWalk {
  /** With `everyFile`, every file can be asked about, clean or not. */
  finish(against?: PathBlock & { stats: Float64Array }, opts?: { everyFile?: boolean }): WalkedFiles;
}

/**
 * Walks the tracked roots under `top` and lstats every regular file and symlink, on other threads
 * where the C core runs (stat-core.ts): the caller can read the base meanwhile. A symlink is an
 * entry of its own, never followed (nor walked into when it points at a directory). Ignored paths
 * and `.soc/` are skipped; special files are skipped with one `warn` each. A path that vanished
 * or became a directory or special file since readdir is left out. `expected` (about how many files
 * there are) picks the C core from C_CORE_MIN on; a tree with a .socignore is read in JS.
 */
export function startWalk(
  top: string,
  rules: readonly RootRule[],
  ignored: IgnoreMatcher,
  warn: (msg: string) => void,
  expected?: number,
): PendingWalk {
  const excluded = new Set(rules.filter((r) => r.kind === "exclude").map((r) => r.path));
  const skipped = _skipping(warn);
  if (isBuiltinOnly(ignored) && statCore(expected) === "c") {
    const dirs: string[] = [];
    const files: string[] = [];
    for (const start of walkStarts(rules)) {
      const type = _typeOf(_lstatExact(start.path === "" ? top : join(top, start.path)));
      if (start.kind === "dir" && type === "dir") dirs.push(start.path);
      else if (type === "file" || type === "link") files.push(start.path);
      else if (start.kind === "file" && type === "special" && !ignored(start.path)) skipped(start.path, "special file");
    }
    const job = startTreeWalk(top, dirs, files, [...excluded]);
    if (job) {
      return {
        finish: (against, opts) => {
          const found = job.wait(against, opts?.everyFile === true);
          // A walk C could not finish (no statx in this kernel, no memory) is done again in JS.
          if (!found) return _walkInJs(top, rules, ignored, excluded, warn).finish(against);
          for (const s of found.skipped) skipped(s.path, s.kind);
          return found;
        },
      };
    }
  }
  return _walkInJs(top, rules, ignored, excluded, warn);
}

/** startWalk in JS: readdir here, the lstats by startStat (C threads where they run, else lstatSync and a worker). */
function _walkInJs(
  top: string,
  rules: readonly RootRule[],
  ignored: IgnoreMatcher,
  excluded: ReadonlySet<string>,
  warn: (msg: string) => void,
): PendingWalk {
  const skipped = _skipping(warn);
  const rels: string[] = [];
  const visit = (rel: string, known?: EntryType): void => {
    if (excluded.size > 0 && excluded.has(rel)) return;
    const type = known ?? _typeOf(_lstatExact(rel === "" ? top : join(top, rel)));
    if (type === "file" || type === "link") rels.push(rel);
    else if (type === "dir") {
      if (rel !== "" && ignored(`${rel}/`)) return;
      const prefix = rel === "" ? "" : `${rel}/`;
      for (const child of _readdir(rel === "" ? top : join(top, rel), warn)) visit(prefix + child.name, _direntType(child));
    } else if (type === "special" && !ignored(rel)) skipped(rel, "special file");
  };
  for (const start of walkStarts(rules)) {
    const type = _typeOf(_lstatExact(start.path === "" ? top : join(top, start.path)));
    if (start.kind === "file" ? type !== "dir" : type === "dir" || type === "link") visit(start.path, type);
  }
  const job = startStat(top, rels);
  // Matched against the ignore rules while the lstats run: an ignored file costs a wasted lstat, never a read.
  const keep = rels.map((rel) => !ignored(rel));
  return { finish: (against) => _trackedEntries(rels, keep, job.wait(against)) };
}

/** The warning for a special file a walk leaves out. */
function _skipping(warn: (msg: string) => void): (rel: string, kind: string) => void {
  return (rel, kind) => warn(`skipping ${kind} ${JSON.stringify(rel)} (not followed, not tracked)`);
}

/** walkTracked's files as one object each (a small tree, or a caller that wants them all). */
export function walkTracked(top: string, rules: readonly RootRule[], ignored: IgnoreMatcher, warn: (msg: string) => void): FileStat[] {
  const walked = startWalk(top, rules, ignored, warn).finish();
  return Array.from({ length: walked.count }, (_, i) => fileStatAt(walked, i));
}

/** walkTracked's paths alone (what `add` and `rm` need: no stat numbers become objects). */
export function walkPaths(top: string, rules: readonly RootRule[], ignored: IgnoreMatcher, warn: (msg: string) => void): string[] {
  const walked = startWalk(top, rules, ignored, warn).finish();
  return Array.from({ length: walked.count }, (_, i) => walked.pathAt(i));
}

/** The i-th file of a walk as a FileStat. */
export function fileStatAt(walked: WalkedFiles, i: number): FileStat {
  const s = walked.statAt(i);
  const mode = s[5] as number;
  const f: FileStat = {
    path: walked.pathAt(i),
    size: s[0] as number,
    mtimeNs: _nanos(s[1] as number, s[2] as number),
    ctimeNs: _nanos(s[3] as number, s[4] as number),
    mode: mode & 0o7777,
  };
  if ((mode & _S_IFMT) === _S_IFLNK) f.symlink = true;
  return f;
}

/** A FileStat from a bigint lstat. */
export function toFileStat(path: string, st: BigIntStats): FileStat {
  const f: FileStat = { path, size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, mode: Number(st.mode) & 0o7777 };
  if (st.isSymbolicLink()) f.symlink = true;
  return f;
}

// ---------------------------------------------------------------------------

/** lstat with exact nanoseconds; undefined when the path cannot be lstat-ed. */
function _lstatExact(abs: string): BigIntStats | undefined {
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

/** Whole seconds and the nanoseconds past them (as STAT_FIELDS holds a time) as nanoseconds since the epoch. */
function _nanos(seconds: number, nanos: number): bigint {
  return BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
}

const _S_IFMT = 0o170000;
const _S_IFREG = 0o100000;
const _S_IFLNK = 0o120000;

/** The kept regular files and symlinks of a finished stat, packed: a path that vanished or changed type since readdir is left out. */
function _trackedEntries(rels: string[], keep: readonly boolean[], { stats, match }: { stats: Float64Array; match?: Int32Array }): WalkedFiles {
  let n = 0;
  const isKept = (i: number) => {
    const mode = stats[i * STAT_FIELDS + 5] as number;
    return keep[i] === true && mode >= 0 && ((mode & _S_IFMT) === _S_IFREG || (mode & _S_IFMT) === _S_IFLNK);
  };
  for (let i = 0; i < rels.length; i++) if (isKept(i)) n++;
  const statAt = (numbers: Float64Array) => (i: number) => numbers.subarray(i * STAT_FIELDS, (i + 1) * STAT_FIELDS);
  if (n === rels.length) return { count: n, pathAt: (i) => rels[i] as string, statAt: statAt(stats), ...(match ? { match } : {}) };
  const paths: string[] = new Array(n);
  const packed = new Float64Array(n * STAT_FIELDS);
  const matched = match && new Int32Array(n);
  for (let i = 0, j = 0; i < rels.length; i++) {
    if (!isKept(i)) continue;
    paths[j] = rels[i] as string;
    packed.set(stats.subarray(i * STAT_FIELDS, (i + 1) * STAT_FIELDS), j * STAT_FIELDS);
    if (matched) matched[j] = match[i] as number;
    j++;
  }
  return { count: n, pathAt: (i) => paths[i] as string, statAt: statAt(packed), ...(matched ? { match: matched } : {}) };
}

function _readdir(abs: string, warn: (msg: string) => void): Dirent[] {
  try {
    return readdirSync(abs, { withFileTypes: true });
  } catch (err) {
    warn(`cannot read directory ${abs}: ${(err as Error).message}`);
    return [];
  }
}
