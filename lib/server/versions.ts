import { linkSync, lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { firstNonDirParent, linkOrCopy, placeSymlink, pruneEmptyDirs, readSymlink, tempBeside } from "../shared/fs.ts";
import { checkRepoPath } from "../shared/paths.ts";
import { resolveIn, type Store } from "./store.ts";
import type { TablePort } from "./table-port.ts";

/** How often the server sweeps expired versions (after commits, and from a timer), in ms. */
export const SWEEP_EVERY_MS = 60 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Absolute path of the versions area, `<stateDir>/versions` (beside the stages, same filesystem). */
export function versionsRoot(store: Store): string {
  return join(store.stateDir, "versions");
}

/** Where the content `path` had as written by revision `rev` is kept, for a path from the table (already checked). */
export function versionPath(store: Store, path: string, rev: number): string {
  return join(versionsRoot(store), String(rev), ...path.split("/"));
}

/** Absolute path of the content `path` had as written by revision `rev`; BadInputError for a bad path. */
export function versionFile(store: Store, path: string, rev: number): string {
  return resolveIn(join(versionsRoot(store), String(rev)), path);
}

/**
 * Hard-links the live store file `path` (written by revision `rev`) into the versions area
 * (copying only where links are impossible) before a revision replaces or deletes it; the store
 * is untouched. Doing it again changes nothing: a version already there is kept, and a store file
 * already missing, or behind a parent that is not a real directory, is skipped (`verify` reports
 * it). `realDirs` (store-relative directories found real) is shared by the calls of one revision.
 */
export function keepVersion(store: Store, r: { path: string; rev: number }, realDirs: Set<string> = new Set()): void {
  checkRepoPath(r.path);
  if (firstNonDirParent(store.root, r.path, realDirs) !== undefined) return;
  const from = join(store.root, ...r.path.split("/"));
  const st = lstatSync(from, { throwIfNoEntry: false });
  if (!st?.isFile() && !st?.isSymbolicLink()) return; // a symlink is kept as one: link(2) does not follow it
  const to = versionPath(store, r.path, r.rev);
  for (let made = false; ; made = true) {
    try {
      return linkSync(from, to);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return; // kept by an earlier try
      if (code === "ENOENT" && !made) {
        mkdirSync(dirname(to), { recursive: true });
        continue;
      }
      if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EMLINK") throw error;
      // A copy goes beside, then is renamed: one cut short by a crash is never taken for the version.
      if (st.isSymbolicLink()) return placeSymlink(readSymlink(from), to, { replace: true });
      const tmp = tempBeside(to);
      linkOrCopy(from, tmp);
      return renameSync(tmp, to);
    }
  }
}

/**
 * Deletes the versions replaced more than `keepDays` days before `nowMs` (rows, then files,
 * pruning directories they leave empty). Returns how many it removed.
 */
export async function sweepVersions(table: TablePort, store: Store, opts: { nowMs: number; keepDays: number }): Promise<number> {
  const expired = await table.expireVersions(opts.nowMs - opts.keepDays * DAY_MS);
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

/** A sweep to call after every commit: runs sweepVersions at most once per SWEEP_EVERY_MS of `now()` (never on a node of a cluster). */
export function createSweeper(table: TablePort, store: Store, opts: { keepDays: number; now: () => number }): () => Promise<number> {
  let last = Number.NEGATIVE_INFINITY;
  return async () => {
    // A node of a cluster leaves it to the hourly sweep on the background jobs' leader (server.ts).
    if (table.cluster) return 0;
    const nowMs = opts.now();
    if (nowMs - last < SWEEP_EVERY_MS) return 0;
    last = nowMs;
    return sweepVersions(table, store, { nowMs, keepDays: opts.keepDays });
  };
}
