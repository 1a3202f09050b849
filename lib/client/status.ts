import type { Database } from "bun:sqlite";
import { loadIgnore } from "./ignore.ts";
import type { Logger } from "./log.ts";
import { comparePaths } from "../shared/paths.ts";
import type { RepoLayout } from "./repo.ts";
import type { RootRule } from "./roots.ts";
import { diffAgainstBase, type DirtySet } from "./scan.ts";
import { walkTracked } from "./walk.ts";
import { readBase, readRoots, refreshBase, type BaseEntry } from "./state.ts";

/** What `soc status --json` prints: repository paths, sorted by code point. */
export interface StatusReport {
  added: string[];
  modified: string[];
  deleted: string[];
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

/** The paths of a dirty set, each list sorted by code point. */
export function toStatusReport(dirty: DirtySet): StatusReport {
  const sorted = (paths: string[]) => paths.sort(comparePaths);
  return {
    added: sorted(dirty.added.map((f) => f.path)),
    modified: sorted(dirty.modified.map((f) => f.path)),
    deleted: sorted(dirty.deleted.map((e) => e.path)),
  };
}
