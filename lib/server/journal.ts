import type { Database } from "bun:sqlite";
import { join } from "node:path";
import { SocError } from "../shared/errors.ts";
import { parentDirs, syncPaths } from "../shared/fs.ts";
import type { Failpoint } from "./failpoint.ts";
import { removeStage, stagePath } from "./stage.ts";
import { deleteFromStore, displacedRoot, resolveIn, writeToStore, type Store, type StoreWrite } from "./store.ts";
import { currentRevision, type Table } from "./table.ts";
import { keepVersion, versionFile, versionPath } from "./versions.ts";

// The redo journal. A revision's rows and a journal entry naming where its new content waits are
// committed in one transaction; the file work comes after, derived from those rows, and every
// step of it can be done twice. Whatever stops it (an error, SIGKILL, a power loss), running the
// journal again finishes it: after each commit, before each request while an entry is left, and
// when the server starts, before it listens. Only then is the entry cleared and the stage removed.

/** Where a revision's new content waits: a push's stage, or (a restore) the kept version of each path. */
export type JournalSource = { stage: string } | { versions: readonly { path: string; rev: number }[] };

/** What running the journal did, for the server's log. */
export interface JournalRun {
  /** The revisions whose files it finished, oldest first. */
  finished: number[];
  /** Store entries the table does not name that stood in the way, each moved under `<stateDir>/displaced/<rev>/`. */
  displaced: { rev: number; path: string }[];
}

/** What running the journal needs; `log` gets one line per problem or repair, for the server's log. */
export interface JournalDeps {
  table: Table;
  store: Store;
  failpoint?: Failpoint;
  log?: (line: string) => void;
  /** Called when a revision's files are all in the store, before they are synced to disk and its entry cleared. */
  onPlaced?: (rev: number) => void;
}

/** Records, inside the caller's transaction, that revision `rev`'s files are still to be put in place from `source`. */
export function recordJournal(db: Database, rev: number, source: JournalSource): void {
  const stage = "stage" in source ? source.stage : null;
  const versions = "versions" in source ? JSON.stringify(source.versions.map((v) => [v.path, v.rev])) : null;
  db.query("INSERT INTO journal (rev, stage, versions) VALUES ($rev, $stage, $versions)").run({ rev, stage, versions });
}

/** Whether some revision's files are not all in place yet. */
export function journalPending(table: Table): boolean {
  return table.db.query("SELECT 1 FROM journal LIMIT 1").get() !== null;
}

/** The oldest revision whose files a commit starting now may leave out of the store: the oldest journal entry's, else the next one. */
export function firstUnplaced(table: Table): number {
  const row = table.db.query("SELECT MIN(rev) AS rev FROM journal").get() as { rev: number | null };
  return row.rev ?? currentRevision(table) + 1;
}

/** Whether stage `id` still holds content of an unfinished revision (then it must not be removed). */
export function stageInJournal(table: Table, id: string): boolean {
  return table.db.query("SELECT 1 FROM journal WHERE stage = $id").get({ id }) !== null;
}

/**
 * Finishes every journaled revision, oldest first: keeps the versions it replaces, deletes, writes
 * its new files, syncs the store's directories, then clears its entry and removes its stage.
 * Throws the first error, its entry left for the next run; what was done by then is skipped
 * next time. `onPlaced(rev)` is called once a revision's files are in the store, before the sync.
 */
export function runJournal(table: Table, store: Store, failpoint?: Failpoint, onPlaced?: (rev: number) => void): JournalRun {
  const run: JournalRun = { finished: [], displaced: [] };
  const entries = table.db.query("SELECT rev, stage, versions FROM journal ORDER BY rev").all() as _Entry[];
  for (const entry of entries) {
    for (const path of _applyRevision(table, store, entry, failpoint, onPlaced)) run.displaced.push({ rev: entry.rev, path });
    table.db.query("DELETE FROM journal WHERE rev = $rev").run({ rev: entry.rev });
    if (entry.stage !== null) removeStage(store, entry.stage);
    run.finished.push(entry.rev);
  }
  return run;
}

/**
 * Runs the journal right after a commit. Its failure is logged, not thrown: the revision is
 * committed (and its client is told so); the journal finishes it before the next request.
 */
export function finishJournal(deps: JournalDeps): void {
  try {
    _logRun(deps, runJournal(deps.table, deps.store, deps.failpoint, deps.onPlaced));
  } catch (error) {
    deps.log?.(
      `${_unfinished(deps.table)} is committed but its files are not all in the store yet: ${_why(error)}; trying again before the next request`,
    );
  }
}

/**
 * Before a request is served: finishes what the journal still holds, or throws SocError
 * "store_behind" (503) saying why, so that nobody reads a store that is behind its table.
 */
export function requireJournalDone(deps: JournalDeps): void {
  if (!journalPending(deps.table)) return;
  try {
    _logRun(deps, runJournal(deps.table, deps.store, deps.failpoint));
  } catch (error) {
    const what = _unfinished(deps.table);
    deps.log?.(`${what} is still not in the store: ${_why(error)}`);
    throw new SocError("store_behind", `the server cannot put ${what} in its store (${_why(error)}); its admin must look at the server's log`, {
      status: 503,
    });
  }
}

/**
 * At start, before listening: finishes what a crash left in the journal, logging what it did.
 * Throws SocError naming the revision and the error when it cannot: the server must not serve a
 * store that is behind its table.
 */
export function replayJournalAtStart(deps: JournalDeps): void {
  try {
    const run = runJournal(deps.table, deps.store, deps.failpoint);
    if (run.finished.length > 0) deps.log?.(`finished the file work of revision ${run.finished.join(", ")}, left unfinished by the last run`);
    _logRun(deps, run);
  } catch (error) {
    throw new SocError("store_behind", `cannot put ${_unfinished(deps.table)} in the store: ${_why(error)}; fix that and start the server again`);
  }
}

// ---------------------------------------------------------------------------

function _logRun(deps: JournalDeps, run: JournalRun): void {
  for (const { rev, path } of run.displaced) {
    deps.log?.(
      `revision ${rev}: ${JSON.stringify(path)} stood in the store's way and is not in the table; moved to ${join(displacedRoot(deps.store, rev), path)}`,
    );
  }
}

function _unfinished(table: Table): string {
  const revs = (table.db.query("SELECT rev FROM journal ORDER BY rev").all() as { rev: number }[]).map((r) => r.rev);
  return `revision ${revs.join(", ")}`;
}

function _why(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface _Entry {
  rev: number;
  stage: string | null;
  versions: string | null;
}

/** Applies one entry's file work (see runJournal); returns the store paths displaced. */
function _applyRevision(table: Table, store: Store, entry: _Entry, failpoint?: Failpoint, onPlaced?: (rev: number) => void): string[] {
  const { db } = table;
  const { rev } = entry;
  const changes = db.query("SELECT path, action, mode, link FROM changes WHERE rev = $rev ORDER BY path").all({ rev }) as {
    path: string;
    action: string;
    mode: number;
    link: string | null;
  }[];
  const keep = db.query("SELECT path, rev FROM versions WHERE replaced_by = $rev ORDER BY path").all({ rev }) as { path: string; rev: number }[];
  const deletes = changes.filter((c) => c.action === "deleted").map((c) => c.path);
  const from = _sourceOf(store, entry);
  const writes = changes
    .filter((c) => c.action !== "deleted")
    .map(({ path, mode, link }): StoreWrite => (link === null ? { path, mode, from: from(path), move: entry.stage !== null } : { path, mode, link }));
  failpoint?.("committed");
  // Directories found real, one set per phase: deletes prune directories, writes may move some aside.
  const realDirs = { kept: new Set<string>(), deleted: new Set<string>(), written: new Set<string>() };
  for (const version of keep) {
    keepVersion(store, version, realDirs.kept);
    failpoint?.("kept");
  }
  for (const path of deletes) {
    deleteFromStore(store, path, realDirs.deleted);
    failpoint?.("deleted");
  }
  const displaced: string[] = [];
  for (const w of writes) {
    displaced.push(...writeToStore(store, w, rev, realDirs.written));
    failpoint?.("written");
  }
  onPlaced?.(rev);
  // Every directory that gained or lost an entry (syncPaths skips the ones a delete pruned away).
  const inStore = [...deletes, ...writes.map((w) => w.path)].map((p) => join(store.root, ...p.split("/")));
  const kept = keep.map((v) => versionPath(store, v.path, v.rev));
  const moved = displaced.map((p) => join(displacedRoot(store, rev), ...p.split("/")));
  syncPaths([], [...parentDirs(store.root, inStore), ...parentDirs(store.stateDir, [...kept, ...moved])]);
  failpoint?.("synced");
  return displaced;
}

/** Where `entry`'s new content for a path lies: its stage (a push), or the kept version it names (a restore). */
function _sourceOf(store: Store, entry: _Entry): (path: string) => string {
  if (entry.stage !== null) {
    // A stage that is gone had every file moved out already: each write then finds nothing to move.
    const stage = stagePath(store, entry.stage);
    const checked = new Set<string>();
    return (path) => resolveIn(stage, path, checked);
  }
  const fromRev = new Map(JSON.parse(entry.versions ?? "[]") as [string, number][]);
  return (path) => {
    const rev = fromRev.get(path);
    if (rev === undefined) throw new Error(`the journal entry of revision ${entry.rev} names no source for ${JSON.stringify(path)}`);
    return versionFile(store, path, rev);
  };
}
