import type { Database } from "bun:sqlite";
import { join } from "node:path";
import { md5Files } from "../shared/hash.ts";
import { loadIgnore } from "./ignore.ts";
import type { Logger } from "./log.ts";
import type { RepoLayout } from "./repo.ts";
import { trackerFor, type RootRule } from "./roots.ts";
import { readBase, readRoots, refreshBase, statIsTrusted, type BaseEntry } from "./state.ts";
import { lstatExact, toFileStat, walkTracked, type FileStat } from "./walk.ts";

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
  // Only when the walk missed base entries (deletions, or files a later pattern ignores) do we
  // need to know which: the usual no-op scan skips this pass.
  if (matched < base.size) {
    const walkedPaths = new Set(files.map((f) => f.path));
    const tracked = trackerFor(opts.rules);
    for (const entry of base.values()) {
      if (walkedPaths.has(entry.path)) continue;
      const st = tracked(entry.path) ? lstatExact(join(top, entry.path)) : undefined;
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
  let unreadable = 0;
  toHash.forEach((f, i) => {
    const b = base.get(f.path);
    f.md5 = sums[i] ?? undefined;
    if (f.md5 === undefined) unreadable++;
    if (b === undefined) return;
    if (f.md5 === undefined) deleted.push(b);
    else if (f.md5 !== b.md5 || f.mode !== b.mode) modified.push(f);
    else refreshed.push({ ...b, size: f.size, mtimeNs: f.mtimeNs, ctimeNs: f.ctimeNs, checkedNs: nowNs });
  });
  // A tracked file that vanished while being hashed counts as deleted, not as a file.
  const present = unreadable ? files.filter((f) => f.md5 !== undefined || !base.has(f.path)) : files;
  return { added, modified, deleted, refreshed, files: present, hashed: toHash.length };
}
