import type { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { IGNORE_FILE } from "./ignore.ts";
import type { Logger } from "./log.ts";
import type { RepoLayout } from "./repo.ts";
import { currentSnapshotCount } from "./base-index.ts";
import { findingsOf, scanRepo, type Findings, type RepoScan, type ScanOptions } from "./scan.ts";
import { baseCount, baseGeneration, clearWatchHint, readBaseFor, readRoots, readWatchHint, writeWatchHint, type WatchHint } from "./state.ts";
import { askWatcher, type WatchAnswer } from "./watch-socket.ts";
import { comparePaths } from "../shared/paths.ts";

/**
 * scanRepo, asking a running `soc watch` first: when it vouches for every change since this
 * tree's last scan (same epoch of its clock, same tracked rules and .socignore), only the paths
 * it saw change and those the last scan found changed are looked at; otherwise the whole tree,
 * as without it. Either way the answer's clock and what this scan found are kept for the next
 * one. The result is the same as a whole scan's; `asked` says how many paths the watcher's
 * answer left to look at, when it was used.
 */
export async function scanRepoAsking(layout: RepoLayout, db: Database, log: Logger, opts: ScanOptions = {}): Promise<RepoScan & { asked?: number }> {
  return _scanAsked(layout, db, log, opts, await _ask(layout, db));
}

/**
 * What `soc status` shows, asking a running `soc watch` as scanRepoAsking does. While the base
 * has not changed since the last scan kept its findings, those still hold for every path the
 * watcher saw no change at: only the paths it did see are looked at, and a status with nothing
 * new to look at reads no file.
 */
export async function statusAsking(layout: RepoLayout, db: Database, log: Logger): Promise<{ found: Findings; hashed: number; asked?: number }> {
  const asked = await _ask(layout, db);
  if (!asked.hint || asked.hint.generation !== asked.generation) {
    const scan = await _scanAsked(layout, db, log, {}, asked);
    return { found: findingsOf(scan), hashed: scan.hashed, ...(scan.asked === undefined ? {} : { asked: scan.asked }) };
  }
  const scan = asked.changed.length ? await scanRepo(layout, db, log, { only: asked.changed }) : undefined;
  const found = scan ? _merged(db, layout, asked.hint.found, asked.changed, findingsOf(scan)) : asked.hint.found;
  _keep(db, asked, found);
  return { found, hashed: scan?.hashed ?? 0, asked: asked.changed.length };
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

async function _scanAsked(layout: RepoLayout, db: Database, log: Logger, opts: ScanOptions, asked: Asked): Promise<RepoScan & { asked?: number }> {
  const only = asked.hint ? [...new Set([..._pathsOf(asked.hint.found), ...asked.changed])] : undefined;
  const scan = await scanRepo(layout, db, log, { ...opts, ...(only ? { only } : {}) });
  _keep(db, asked, findingsOf(scan));
  return only ? { ...scan, asked: only.length } : scan;
}

/** What asking the watcher told: its answer, and the kept hint when the answer vouches for every change since it. */
interface Asked {
  answer: WatchAnswer | undefined;
  tracking: string | undefined;
  /** The base's generation before anything was read. */
  generation: number;
  hint: WatchHint | undefined;
  /** Whether a hint was kept at all (vouched for or not). */
  hadHint: boolean;
  changed: string[];
}

async function _ask(layout: RepoLayout, db: Database): Promise<Asked> {
  const generation = baseGeneration(db);
  const kept = readWatchHint(db);
  const answer = await askWatcher(layout, kept?.clock);
  const tracking = answer ? trackingOf(layout, db) : undefined;
  const vouched = answer?.changed !== undefined && kept !== undefined && kept.tracking === tracking;
  return { answer, tracking, generation, hint: vouched ? kept : undefined, hadHint: kept !== undefined, changed: answer?.changed ?? [] };
}

/**
 * Keeps the answer's clock and `found` for the next scan, with the base's generation when the
 * base did not change while this one ran (a refresh, or a push or pull meanwhile); without a
 * daemon's answer, drops any kept hint.
 */
function _keep(db: Database, asked: Asked, found: Findings): void {
  try {
    if (!asked.answer) return void (asked.hadHint && clearWatchHint(db));
    const generation = baseGeneration(db) === asked.generation ? asked.generation : null;
    writeWatchHint(db, { clock: asked.answer.clock, tracking: asked.tracking as string, generation, found } satisfies WatchHint);
  } catch {
    // a tree whose state this user cannot write (status as another user): no hint kept, nothing lost
  }
}

/**
 * `before` with what a scan of `changed` found in place of everything it had at or below those
 * paths. The tracked count follows from the base alone: its entries, less the deleted and the
 * unreadable ones, plus the added files.
 */
function _merged(db: Database, layout: RepoLayout, before: Findings, changed: readonly string[], within: Findings): Findings {
  const looked = new Set(changed);
  const outside = (path: string) => {
    if (looked.has("")) return false;
    for (let p = path; ; p = p.slice(0, p.lastIndexOf("/"))) {
      if (looked.has(p)) return false;
      if (!p.includes("/")) return true;
    }
  };
  const merge = (a: string[], b: string[]) => [...a.filter(outside), ...b].sort(comparePaths);
  const found = {
    added: merge(before.added, within.added),
    modified: merge(before.modified, within.modified),
    deleted: merge(before.deleted, within.deleted),
    unreadable: [...before.unreadable.filter((u) => outside(u.path)), ...within.unreadable].sort((x, y) => comparePaths(x.path, y.path)),
  };
  const entries = currentSnapshotCount(db, layout.baseSnapshotFile) ?? baseCount(db);
  const unreadableEntries = found.unreadable.length
    ? readBaseFor(
        db,
        found.unreadable.map((u) => u.path),
      ).size
    : 0;
  return { ...found, tracked: entries - found.deleted.length - unreadableEntries + found.added.length };
}

function _pathsOf(found: Findings): string[] {
  return [...found.added, ...found.modified, ...found.deleted, ...found.unreadable.map((u) => u.path)];
}
