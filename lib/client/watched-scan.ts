import type { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { baseIndexOf, currentSnapshotCount } from "./base-index.ts";
import { IGNORE_FILE, loadIgnore } from "./ignore.ts";
import type { Logger } from "./log.ts";
import type { RepoLayout } from "./repo.ts";
import { diffAgainstBase, rulesForPaths, scanRepo, type RepoScan, type ScanOptions } from "./scan.ts";
import { baseCount, clearWatchHint, readBaseWithin, readRoots, readWatchHint, refreshBase, writeWatchHint, type WatchHint } from "./state.ts";
import { startWalk } from "./walk.ts";
import { askWatcher } from "./watch-socket.ts";

/**
 * scanRepo, asking a running `soc watch` first: when it vouches for every change since this
 * tree's last scan (same epoch of its clock, same tracked rules and .socignore), only the paths
 * it saw change and those the last scan found changed are looked at; otherwise the whole tree,
 * as without it. Either way the answer's clock and what this scan found changed are kept for
 * the next one. The result is the same as a whole scan's; `asked` says how many paths the
 * watcher's answer left to look at, when it was used.
 */
export async function scanRepoAsking(layout: RepoLayout, db: Database, log: Logger, opts: ScanOptions = {}): Promise<RepoScan & { asked?: number }> {
  const hint = readWatchHint(db);
  const answer = await askWatcher(layout, hint?.clock);
  const tracking = _tracking(layout, db);
  const only = answer?.changed && hint?.tracking === tracking ? [...new Set([...hint.dirty, ...answer.changed])] : undefined;
  const scan = only ? await _scanOnly(layout, db, log, only, opts) : await scanRepo(layout, db, log, opts);
  try {
    if (!answer) {
      if (hint) clearWatchHint(db);
    } else {
      const dirty = [...scan.added, ...scan.modified, ...scan.deleted, ...scan.unreadable].map((f) => f.path);
      writeWatchHint(db, { clock: answer.clock, tracking, dirty } satisfies WatchHint);
    }
  } catch {
    // a tree whose state this user cannot write (status as another user): no hint kept, nothing lost
  }
  return only ? { ...scan, asked: only.length } : scan;
}

// ---------------------------------------------------------------------------

/**
 * scanRepo of `only` without the base snapshot: the base entries within those paths come from
 * the database, by index, so the cost follows the number of paths, not the size of the tree.
 * Refreshed stat fields go to the database only (the snapshot is rebuilt by the next whole scan).
 */
async function _scanOnly(layout: RepoLayout, db: Database, log: Logger, only: readonly string[], opts: ScanOptions): Promise<RepoScan> {
  const rules = readRoots(db);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const walk = startWalk(layout.top, rulesForPaths(layout.top, rules, only), loadIgnore(layout.top), (m) => log.warn(m), only.length);
  const index = baseIndexOf(readBaseWithin(db, only));
  const dirty = await diffAgainstBase(layout.top, walk.finish(index), index, { ...opts, rules, nowNs });
  if (dirty.refreshed.length > 0) refreshBase(db, dirty.refreshed);
  // The entries outside `only` are unchanged: the tracked files are those plus what was found within.
  const entries = currentSnapshotCount(db, layout.baseSnapshotFile) ?? baseCount(db);
  return { ...dirty, tracked: entries - index.count + dirty.tracked, rules, scannedNs: nowNs, index: undefined };
}

/** What decides which files are tracked: the rules and the .socignore patterns. */
function _tracking(layout: RepoLayout, db: Database): string {
  let patterns = "";
  try {
    patterns = readFileSync(join(layout.top, IGNORE_FILE), "utf8");
  } catch {
    // no .socignore
  }
  return new Bun.CryptoHasher("md5")
    .update(JSON.stringify(readRoots(db)))
    .update(patterns)
    .digest("hex");
}
