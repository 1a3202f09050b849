import { lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { linkOrCopy, pruneEmptyDirs, tempBeside } from "../shared/fs.ts";
import { resolveIn, type Store } from "./store.ts";
import type { Table } from "./table.ts";

/** How often the server sweeps expired versions (after commits, and from a timer), in ms. */
export const SWEEP_EVERY_MS = 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Absolute path of the versions area, `<stateDir>/versions` (beside the stages, same filesystem). */
export function versionsRoot(store: Store): string {
  return join(store.stateDir, "versions");
}

/** Absolute path of the content `path` had as written by revision `rev`; BadInputError for a bad path. */
export function versionFile(store: Store, path: string, rev: number): string {
  return resolveIn(join(versionsRoot(store), String(rev)), path);
}

/**
 * Hard-links each live store file about to be replaced or deleted into the versions area
 * (copying only where links are impossible). The store is untouched, so if the commit then
 * fails nothing is lost; the rename over (or unlink of) the store file completes the move.
 * A store file already missing is skipped (`verify` reports it).
 */
export function keepVersions(store: Store, replaced: readonly { path: string; rev: number }[]): void {
  const checked = new Set<string>();
  for (const r of replaced) {
    const from = resolveIn(store.root, r.path, checked);
    if (!lstatSync(from, { throwIfNoEntry: false })?.isFile()) continue;
    const to = versionFile(store, r.path, r.rev);
    mkdirSync(dirname(to), { recursive: true });
    rmSync(to, { force: true }); // left over from a commit that failed after linking
    linkOrCopy(from, to);
  }
}

/**
 * Makes version (`path`, `rev`) the store's file at `path`: linked beside it, then renamed over
 * it, so readers see the old file or the new one, never neither. Store files are only ever
 * replaced by rename, never written in place, so sharing the inode with the version is safe.
 */
export function placeVersion(store: Store, path: string, rev: number): void {
  const from = versionFile(store, path, rev);
  const to = resolveIn(store.root, path);
  mkdirSync(dirname(to), { recursive: true });
  const tmp = tempBeside(to);
  linkOrCopy(from, tmp);
  renameSync(tmp, to);
}

/**
 * Deletes the versions replaced more than `keepDays` days before `nowMs` (rows, then files,
 * pruning directories they leave empty). Returns how many it removed.
 */
export function sweepVersions(table: Table, store: Store, opts: { nowMs: number; keepDays: number }): number {
  const cutoff = opts.nowMs - opts.keepDays * DAY_MS;
  const expired = table.db
    .transaction(() => {
      const rows = table.db.query("SELECT path, rev FROM versions WHERE replaced_at_ms < $cutoff").all({ cutoff });
      table.db.query("DELETE FROM versions WHERE replaced_at_ms < $cutoff").run({ cutoff });
      return rows as { path: string; rev: number }[];
    })
    .immediate();
  const root = versionsRoot(store);
  for (const { path, rev } of expired) {
    try {
      const abs = versionFile(store, path, rev);
      rmSync(abs, { force: true });
      pruneEmptyDirs(root, dirname(abs));
    } catch {
      // a path that was never valid has no file to remove
    }
  }
  return expired.length;
}

/** A sweep to call after every commit: runs sweepVersions at most once per SWEEP_EVERY_MS of `now()`. */
export function createSweeper(table: Table, store: Store, opts: { keepDays: number; now: () => number }): () => number {
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    const nowMs = opts.now();
    if (nowMs - last < SWEEP_EVERY_MS) return 0;
    last = nowMs;
    return sweepVersions(table, store, { nowMs, keepDays: opts.keepDays });
  };
}
