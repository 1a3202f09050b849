import { lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { firstNonDirParent, linkOrCopy, pruneEmptyDirs, tempBeside } from "../shared/fs.ts";
import { checkRepoPath } from "../shared/paths.ts";
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
 * Hard-links the live store file `path` (written by revision `rev`) into the versions area
 * (copying only where links are impossible) before a revision replaces or deletes it; the store
 * is untouched. Doing it again changes nothing: a version already there is kept, and a store file
 * already missing, or behind a parent that is not a real directory, is skipped (`verify` reports it).
 */
export function keepVersion(store: Store, r: { path: string; rev: number }): void {
  checkRepoPath(r.path);
  if (firstNonDirParent(store.root, r.path, new Set()) !== undefined) return;
  const from = join(store.root, ...r.path.split("/"));
  if (!lstatSync(from, { throwIfNoEntry: false })?.isFile()) return;
  const to = versionFile(store, r.path, r.rev);
  if (lstatSync(to, { throwIfNoEntry: false })) return;
  mkdirSync(dirname(to), { recursive: true });
  // Beside, then renamed: a copy cut short by a crash is never taken for the whole version.
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
