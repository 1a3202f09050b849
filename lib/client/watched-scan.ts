import type { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { IGNORE_FILE } from "./ignore.ts";
import type { Logger } from "./log.ts";
import type { RepoLayout } from "./repo.ts";
import { scanRepo, type RepoScan, type ScanOptions } from "./scan.ts";
import { clearWatchHint, readRoots, readWatchHint, writeWatchHint, type WatchHint } from "./state.ts";
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
  const tracking = answer ? trackingOf(layout, db) : undefined;
  const only = answer?.changed && hint && hint.tracking === tracking ? [...new Set([...hint.dirty, ...answer.changed])] : undefined;
  const scan = await scanRepo(layout, db, log, { ...opts, ...(only ? { only } : {}) });
  try {
    if (!answer) {
      if (hint) clearWatchHint(db);
    } else {
      const dirty = [...scan.added, ...scan.modified, ...scan.deleted, ...scan.unreadable].map((f) => f.path);
      writeWatchHint(db, { clock: answer.clock, tracking: tracking as string, dirty } satisfies WatchHint);
    }
  } catch {
    // a tree whose state this user cannot write (status as another user): no hint kept, nothing lost
  }
  return only ? { ...scan, asked: only.length } : scan;
}

// ---------------------------------------------------------------------------

/** What decides which files are tracked, as a digest: the tracked-root rules and the .socignore patterns. */
export function trackingOf(layout: RepoLayout, db: Database): string {
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
