import type { Database } from "bun:sqlite";
import { lstatSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { isGone } from "../shared/fs.ts";
import { md5Files } from "../shared/hash.ts";
import { comparePaths } from "../shared/paths.ts";
import { loadIgnore } from "./ignore.ts";
import type { Logger } from "./log.ts";
import type { RepoLayout } from "./repo.ts";
import { trackerFor, type RootRule } from "./roots.ts";
import { readBase, readRoots, refreshBase, statIsTrusted, type BaseEntry } from "./state.ts";
import { toFileStat, walkTracked, type FileStat } from "./walk.ts";

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
  /**
   * Tracked files that exist but could not be read or lstat-ed (EACCES, EIO…), with the error
   * code: neither deleted nor modified. A push refuses to run while there are any.
   */
  unreadable: { path: string; error: string }[];
}

/** A dirty set with the rules and base it was computed against and when the scan started. */
export interface RepoScan extends DirtySet {
  rules: RootRule[];
  base: ReadonlyMap<string, BaseEntry>;
  scannedNs: bigint;
}

/**
 * Computes the dirty set of a working tree against its base and writes back refreshed stat
 * fields, so the next scan need not hash files whose content turned out unchanged.
 */
export async function scanRepo(
  layout: RepoLayout,
  db: Database,
  log: Logger,
  opts: { hashAdded?: boolean; onHash?: (done: number, total: number) => void } = {},
): Promise<RepoScan> {
  const rules = readRoots(db);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const walked = walkTracked(layout.top, rules, loadIgnore(layout.top), (m) => log.warn(m));
  const base = readBase(db);
  const dirty = await diffAgainstBase(layout.top, walked, base, { rules, hashAdded: opts.hashAdded, nowNs, onHash: opts.onHash });
  if (dirty.refreshed.length > 0) refreshBase(db, dirty.refreshed);
  return { ...dirty, rules, base, scannedNs: nowNs };
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
  opts: { rules: readonly RootRule[]; hashAdded?: boolean; nowNs?: bigint; onHash?: (done: number, total: number) => void },
): Promise<DirtySet> {
  const nowNs = opts.nowNs ?? BigInt(Date.now()) * 1_000_000n;
  const files: ScannedFile[] = walked;
  const added: ScannedFile[] = [];
  const toHash: ScannedFile[] = [];
  let matched = 0;
  for (const f of files) {
    const b = base.get(f.path);
    if (b === undefined) {
      added.push(f);
      if (opts.hashAdded) toHash.push(f);
      continue;
    }
    matched++;
    if (statIsTrusted(b, f)) f.md5 = b.md5;
    else toHash.push(f);
  }
  const deleted: BaseEntry[] = [];
  const unreadable: { path: string; error: string }[] = [];
  // Only when the walk missed base entries (deletions, or files a later pattern ignores) do we
  // need to know which: the usual no-op scan skips this pass.
  if (matched < base.size) {
    const walkedPaths = new Set(files.map((f) => f.path));
    const tracked = trackerFor(opts.rules);
    for (const entry of base.values()) {
      if (walkedPaths.has(entry.path)) continue;
      const st = tracked(entry.path) ? _lstatOrError(join(top, entry.path)) : undefined;
      if (typeof st === "string") {
        unreadable.push({ path: entry.path, error: st });
        continue;
      }
      if (!st?.isFile()) {
        deleted.push(entry);
        continue;
      }
      const f: ScannedFile = toFileStat(entry.path, st);
      files.push(f);
      if (statIsTrusted(entry, f)) f.md5 = entry.md5;
      else toHash.push(f);
    }
  }
  const sums = await md5Files(
    toHash.map((f) => join(top, f.path)),
    { onProgress: opts.onHash },
  );
  const modified: ScannedFile[] = [];
  const refreshed: BaseEntry[] = [];
  const missing = new Set<string>();
  toHash.forEach((f, i) => {
    const b = base.get(f.path);
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
    } else if (sum !== b.md5 || f.mode !== b.mode) modified.push(f);
    else refreshed.push({ ...b, size: f.size, mtimeNs: f.mtimeNs, ctimeNs: f.ctimeNs, checkedNs: nowNs });
  });
  const present = missing.size ? files.filter((f) => !missing.has(f.path)) : files;
  unreadable.sort((x, y) => comparePaths(x.path, y.path));
  const stillAdded = missing.size ? added.filter((f) => !missing.has(f.path)) : added;
  return { added: stillAdded, modified, deleted, refreshed, files: present, hashed: toHash.length, unreadable };
}

// ---------------------------------------------------------------------------

/** lstat with exact nanoseconds; undefined when the path is gone (ENOENT, ENOTDIR), the error code when it cannot be lstat-ed. */
function _lstatOrError(abs: string): BigIntStats | undefined | string {
  try {
    return lstatSync(abs, { bigint: true });
  } catch (error) {
    return isGone(error) ? undefined : ((error as NodeJS.ErrnoException).code ?? String(error));
  }
}
