import type { Database } from "bun:sqlite";
import { lstatSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { firstNonDirParent, isGone, isRealDir, readSymlink } from "../shared/fs.ts";
import { md5Bytes, md5Files, type FileDigest } from "../shared/hash.ts";
import { comparePaths } from "../shared/paths.ts";
import { BASE_STAT_FIELDS, baseIndexOf, changeBase, currentSnapshotCount, loadBaseIndex, snapshotCount, type BaseIndex } from "./base-index.ts";
import { loadIgnore } from "./ignore.ts";
import type { Logger } from "./log.ts";
import type { RepoLayout } from "./repo.ts";
import { normalizeRules, rulesWithin, trackerFor, type RootRule } from "./roots.ts";
import { baseCount, readBaseWithin, readRoots, refreshBase, statIsTrusted, type BaseEntry } from "./state.ts";
import { fileStatAt, startWalk, toFileStat, type FileStat, type WalkedFiles } from "./walk.ts";

/** A tracked file with its content hash, when one was computed; a symlink with its target's md5 and the target. */
export interface ScannedFile extends FileStat {
  md5?: string;
  /** A symlink's target, read with its md5. */
  link?: string;
}

/** What changed against the base (DESIGN.md "Change detection"). */
export interface DirtySet {
  added: ScannedFile[];
  modified: ScannedFile[];
  deleted: BaseEntry[];
  /** Clean entries whose stat fields or check time moved: write them back so the next scan is cheap. */
  refreshed: BaseEntry[];
  /** How many tracked files there are, clean or not. */
  tracked: number;
  /** Every tracked file, each with its md5: only when asked for with `allFiles` (a `--force` push sends them all). */
  files?: ScannedFile[];
  /** The base entries of the paths this scan read (all of them with `allFiles`): every changed one with `hashChanged`; a push needs their revisions. */
  base: ReadonlyMap<string, BaseEntry>;
  /** Where each path of `base` sits in the base index the scan compared against. */
  positions: ReadonlyMap<string, number>;
  /** How many files were read and hashed. */
  hashed: number;
  /**
   * Tracked files that exist but could not be read or lstat-ed (EACCES, EIO…), with the error
   * code: neither deleted nor modified. A push refuses to run while there are any.
   */
  unreadable: { path: string; error: string }[];
}

/** What a scan found, as status shows it: repository paths, sorted by code point. */
export interface Findings {
  added: string[];
  modified: string[];
  deleted: string[];
  unreadable: { path: string; error: string }[];
  /** How many tracked files there are, clean or not. */
  tracked: number;
}

/** A scan's dirty set as Findings. */
export function findingsOf(scan: DirtySet): Findings {
  const sorted = (paths: string[]) => paths.sort(comparePaths);
  return {
    added: sorted(scan.added.map((f) => f.path)),
    modified: sorted(scan.modified.map((f) => f.path)),
    deleted: sorted(scan.deleted.map((e) => e.path)),
    unreadable: scan.unreadable,
    tracked: scan.tracked,
  };
}

/** A dirty set with the rules it was computed against and when the scan started. */
export interface RepoScan extends DirtySet {
  rules: RootRule[];
  scannedNs: bigint;
  /** The base index as the scan left it (its refreshes applied), or undefined when someone else changed the base meanwhile. */
  index: BaseIndex | undefined;
}

/** How a scan may be asked to go further than finding what changed. */
export interface ScanOptions {
  /**
   * Give every added and modified file its md5 (a push sends them with it). Without it, a file
   * new to the base is not read, nor is one whose size moved: it is modified whatever its bytes
   * (git status knows it the same way).
   */
  hashChanged?: boolean;
  /** Return every tracked file with its md5 in `files`. */
  allFiles?: boolean;
  onHash?: (done: number, total: number) => void;
  /**
   * Look only at these paths (files, or directories with everything below them) and at their
   * base entries; every other base entry counts as unchanged. `soc watch` knows which paths its
   * watcher saw change; a scan of the whole tree catches what it could not see.
   */
  only?: readonly string[];
}

/**
 * Computes the dirty set of a working tree against its base and writes back refreshed stat
 * fields, so the next scan need not hash files whose content turned out unchanged. The base is
 * read while the walk's lstats run on other threads.
 */
export async function scanRepo(layout: RepoLayout, db: Database, log: Logger, opts: ScanOptions = {}): Promise<RepoScan> {
  const rules = readRoots(db);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  if (opts.only) return _scanPaths(layout, db, log, opts.only, { ...opts, rules, nowNs });
  const walk = startWalk(layout.top, rules, loadIgnore(layout.top), (m) => log.warn(m), snapshotCount(layout.baseSnapshotFile));
  const base = loadBaseIndex(db, layout.baseSnapshotFile);
  const dirty = await diffAgainstBase(layout.top, walk.finish(base, { everyFile: opts.allFiles }), base, { ...opts, rules, nowNs });
  const updated = dirty.refreshed.map((entry) => ({ at: dirty.positions.get(entry.path) as number, entry }));
  const index =
    updated.length === 0
      ? base
      : changeBase(db, layout.baseSnapshotFile, base, { updated, added: [], removed: [] }, () => refreshBase(db, dirty.refreshed));
  return { ...dirty, rules, scannedNs: nowNs, index };
}

/**
 * Compares walked files with the base: stat first, md5 only when the stat moved or the entry
 * is racily clean. Only files that need a closer look become objects. Base entries missing from
 * the walk but still tracked and present (e.g. now ignored) stay tracked.
 */
export async function diffAgainstBase(
  top: string,
  walked: WalkedFiles,
  base: BaseIndex,
  opts: ScanOptions & { rules: readonly RootRule[]; nowNs?: bigint },
): Promise<DirtySet> {
  const nowNs = opts.nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const match = walked.match ?? base.match(Array.from({ length: walked.count }, (_, i) => walked.pathAt(i)));
  const seen = new Uint8Array(base.count);
  const added: ScannedFile[] = [];
  const toHash: ScannedFile[] = [];
  const resized: ScannedFile[] = []; // modified for sure: without hashChanged, neither read nor looked up
  const clean: number[] = [];
  const positions = new Map<string, number>();
  let matched = 0;
  for (let i = 0; i < walked.count; i++) {
    const at = match[i] as number;
    if (at < 0) {
      const f = fileStatAt(walked, i);
      added.push(f);
      if (opts.hashChanged) toHash.push(f);
      continue;
    }
    seen[at] = 1;
    matched++;
    if (walked.clean ? walked.clean[i] === 1 : _statIsTrusted(base.stats, at, walked.statAt(i))) {
      if (!opts.allFiles) continue;
      clean.push(i);
      positions.set(walked.pathAt(i), at);
    } else {
      const f = fileStatAt(walked, i);
      (!opts.hashChanged && f.size !== base.stats[at * BASE_STAT_FIELDS] ? resized : toHash).push(f);
      positions.set(walked.pathAt(i), at);
    }
  }
  // Only when the walk missed base entries (deletions, or files a later pattern ignores) do we
  // need to know which: the usual no-op scan skips this pass.
  const unwalked: string[] = [];
  for (let at = 0; matched + unwalked.length < base.count && at < seen.length; at++) {
    if (seen[at]) continue;
    unwalked.push(base.pathAt(at));
    positions.set(unwalked.at(-1) as string, at);
  }
  const closer = base.entries([...toHash.map((f) => f.path), ...unwalked, ...clean.map((i) => walked.pathAt(i))]);

  const walkedToHash = toHash.length;
  const files: ScannedFile[] = []; // tracked files the walk missed (e.g. now ignored) but still there
  const deleted: BaseEntry[] = [];
  const unreadable: { path: string; error: string }[] = [];
  const tracked = trackerFor(opts.rules);
  const realDirs = new Set<string>();
  for (const path of unwalked) {
    const b = closer.get(path);
    if (b === undefined) continue; // a concurrent push or pull took it out of the base meanwhile
    const st = tracked(path) && !_belowNonDir(top, path, realDirs) ? _lstatOrError(join(top, path)) : undefined;
    if (typeof st === "string") {
      unreadable.push({ path, error: st });
      continue;
    }
    if (!st?.isFile() && !st?.isSymbolicLink()) {
      deleted.push(b);
      continue;
    }
    const f: ScannedFile = toFileStat(path, st);
    files.push(f);
    if (statIsTrusted(b, f)) _settled(f, b);
    else toHash.push(f);
  }
  const sums = await _digests(top, toHash, opts.onHash);
  const modified: ScannedFile[] = [...resized];
  const refreshed: BaseEntry[] = [];
  const missing = new Set<string>();
  toHash.forEach((f, i) => {
    const b = closer.get(f.path);
    const sum = sums[i] ?? null;
    if (sum !== null && typeof sum === "object") {
      unreadable.push({ path: f.path, error: sum.error });
      missing.add(f.path);
      return;
    }
    f.md5 = sum ?? undefined;
    if (b === undefined) return;
    if (sum === null) {
      deleted.push(b); // vanished while being hashed: ENOENT, never any other error
      missing.add(f.path);
    } else if (sum !== b.md5 || f.mode !== b.mode || f.link !== b.link) modified.push(f);
    else refreshed.push({ ...b, size: f.size, mtimeNs: f.mtimeNs, ctimeNs: f.ctimeNs, checkedNs: nowNs });
  });
  unreadable.sort((x, y) => comparePaths(x.path, y.path));
  const stillAdded = missing.size ? added.filter((f) => !missing.has(f.path)) : added;
  const found = walked.count + files.length - missing.size;
  if (!opts.allFiles)
    return { added: stillAdded, modified, deleted, refreshed, tracked: found, base: closer, positions, hashed: toHash.length, unreadable };
  const cleanFiles = clean.map((i) => _settled(fileStatAt(walked, i), closer.get(walked.pathAt(i)) as BaseEntry));
  const all = [...files, ...toHash.slice(0, walkedToHash), ...cleanFiles].filter((f) => !missing.has(f.path));
  return { added: stillAdded, modified, deleted, refreshed, tracked: found, files: all, base: closer, positions, hashed: toHash.length, unreadable };
}

/**
 * The rules a walk of `paths` only follows: each tracked path as a root of its own (a directory
 * or a file, as it is now), and the rules of `rules` within each (tracked roots inside an
 * untracked directory, exclusions).
 */
export function rulesForPaths(top: string, rules: readonly RootRule[], paths: readonly string[]): RootRule[] {
  const tracked = trackerFor(rules);
  const within = rulesWithin(rules);
  const out: RootRule[] = [];
  for (const path of paths) {
    if (tracked(path)) out.push({ path, kind: isRealDir(join(top, path)) ? "dir" : "file" });
    out.push(...within(path));
  }
  return normalizeRules(out);
}

// ---------------------------------------------------------------------------

/**
 * scanRepo of `only`: a walk of those paths, against just the base entries within them, read
 * from the database by index; the cost follows the number of paths, not the size of the tree.
 * The positions it reports are in that small index, so refreshes go to the database alone and no
 * `index` is returned: the snapshot is rebuilt by the next whole scan.
 */
async function _scanPaths(
  layout: RepoLayout,
  db: Database,
  log: Logger,
  only: readonly string[],
  opts: ScanOptions & { rules: readonly RootRule[]; nowNs: bigint },
): Promise<RepoScan> {
  const walk = startWalk(layout.top, rulesForPaths(layout.top, opts.rules, only), loadIgnore(layout.top), (m) => log.warn(m), only.length);
  const index = baseIndexOf(readBaseWithin(db, only));
  const entries = currentSnapshotCount(db, layout.baseSnapshotFile) ?? baseCount(db); // before a refresh moves the generation
  const dirty = await diffAgainstBase(layout.top, walk.finish(index, { everyFile: opts.allFiles }), index, opts);
  if (dirty.refreshed.length > 0) refreshBase(db, dirty.refreshed);
  // The entries outside `only` are unchanged: the tracked files are those plus what was found within.
  return { ...dirty, tracked: entries - index.count + dirty.tracked, rules: [...opts.rules], scannedNs: opts.nowNs, index: undefined };
}

/** `f`, whose stat says it still holds base entry `b`'s content, with that content's md5 (and target, for a symlink). */
function _settled(f: ScannedFile, b: BaseEntry): ScannedFile {
  f.md5 = b.md5;
  if (f.symlink && b.link !== undefined) f.link = b.link;
  return f;
}

/**
 * The digests of `found`, in order (as md5Files gives them): a file's bytes, or a symlink's target
 * text, read with readlink and never followed, which also becomes the link's `link` and `size`.
 */
async function _digests(top: string, found: ScannedFile[], onHash?: (done: number, total: number) => void): Promise<FileDigest[]> {
  const files = found.filter((f) => !f.symlink);
  const sums = await md5Files(
    files.map((f) => join(top, f.path)),
    { onProgress: onHash },
  );
  let next = 0;
  return found.map((f) => (f.symlink ? _linkDigest(top, f) : (sums[next++] as FileDigest)));
}

/** A symlink's FileDigest: the md5 of its target text (which becomes `f.link`, its length `f.size`); null when it is gone. */
function _linkDigest(top: string, f: ScannedFile): FileDigest {
  try {
    f.link = readSymlink(join(top, f.path));
  } catch (error) {
    // EINVAL: no longer a symlink since its lstat (replaced by a file): unreadable now, the next scan looks again.
    return isGone(error) ? null : { error: (error as NodeJS.ErrnoException).code ?? String(error) };
  }
  f.size = Buffer.byteLength(f.link);
  return md5Bytes(f.link);
}

/** Whether a walked file with numbers `walked` still holds base entry `at`'s content by its stat alone (statIsTrusted, over the packed numbers). */
function _statIsTrusted(base: Float64Array, at: number, walked: ArrayLike<number>): boolean {
  const b = at * BASE_STAT_FIELDS;
  return (
    base[b + 5] === 1 &&
    base[b] === walked[0] &&
    base[b + 1] === walked[1] &&
    base[b + 2] === walked[2] &&
    base[b + 3] === walked[3] &&
    base[b + 4] === walked[4]
  );
}

/**
 * Whether a parent of `path` is a symlink, a file or missing: the path is gone from the tree then,
 * and whatever lies through a link is never looked at. A parent that cannot be lstat-ed says no:
 * the path's own lstat then names the error.
 */
function _belowNonDir(top: string, path: string, realDirs: Set<string>): boolean {
  try {
    return firstNonDirParent(top, path, realDirs) !== undefined;
  } catch {
    return false;
  }
}

/** lstat with exact nanoseconds; undefined when the path is gone (ENOENT, ENOTDIR), the error code when it cannot be lstat-ed. */
function _lstatOrError(abs: string): BigIntStats | undefined | string {
  try {
    return lstatSync(abs, { bigint: true });
  } catch (error) {
    return isGone(error) ? undefined : ((error as NodeJS.ErrnoException).code ?? String(error));
  }
}
