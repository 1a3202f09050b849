import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SocError } from "../shared/errors.ts";
import { parentDirs, syncPaths } from "../shared/fs.ts";
import { eachInParallel } from "../shared/batches.ts";
import type { Failpoint } from "./failpoint.ts";
import { BLOB_TRANSFERS, type BlobStore } from "./s3-blobs.ts";
import { removeStage, stagePath } from "./stage.ts";
import { deleteFromStore, displacedRoot, resolveIn, writeToStore, type Store, type StoreWrite } from "./store.ts";
import type { JournalEntry, RevisionWork, TablePort } from "./table-port.ts";
import { keepVersion, versionFile, versionPath } from "./versions.ts";

// The redo journal. A revision's rows and a journal entry naming where its new content waits are
// committed in one transaction; the file work comes after, derived from those rows, and every
// step of it can be done twice. Whatever stops it (an error, SIGKILL, a power loss), running the
// journal again finishes it: after each commit, before each request while an entry is left, and
// when the server starts, before it listens. Only then is the entry cleared and the stage removed.
// A node of a cluster (ClusterRows in table-port.ts) runs the same journal over every revision
// after its cursor: another node's content comes from the object store, and it keeps no version
// files (a version is a row naming its blob); a node with a cache (--cache) keeps no tree either,
// so for it the journal only moves its cursor and removes its stages.

/** What running the journal did, for the server's log. */
export interface JournalRun {
  /** The revisions whose files it finished, oldest first. */
  finished: number[];
  /** Store entries the table does not name that stood in the way, each moved under `<stateDir>/displaced/<rev>/`. */
  displaced: { rev: number; path: string }[];
}

/** What running the journal needs; `log` gets one line per problem or repair, for the server's log. */
export interface JournalDeps {
  table: TablePort;
  store: Store;
  failpoint?: Failpoint;
  log?: (line: string) => void;
  /** Called when a revision's files are all in the store, before they are synced to disk and its entry cleared. */
  onPlaced?: (rev: number) => void;
  /** The object store holding every content by sha256 (--content s3://…): a node of a cluster places others' revisions from it. */
  blobs?: BlobStore;
}

/**
 * Finishes every journaled revision, oldest first: keeps the versions it replaces, deletes, writes
 * its new files, syncs the store's directories, then clears its entry and removes its stage.
 * Throws the first error, its entry left for the next run; what was done by then is skipped
 * next time. `onPlaced(rev)` is called once a revision's files are in the store, before the sync.
 */
export async function runJournal(deps: JournalDeps): Promise<JournalRun> {
  const { table, store } = deps;
  const run: JournalRun = { finished: [], displaced: [] };
  for (const entry of await table.journal.entries()) {
    if (store.cache) {
      // A node with a cache places nothing: every content is in the object store, and sessions link it from the cache.
      deps.onPlaced?.(entry.rev);
    } else {
      const work = await table.journal.work(entry.rev);
      const fetched = table.cluster && !("stage" in entry.source) ? await _fetchContent(deps, entry.rev, work) : undefined;
      // A node of a cluster keeps no version files: its versions are rows naming their blobs.
      const todo = table.cluster ? { ...work, keep: [] } : work;
      for (const path of _applyRevision(store, entry, todo, fetched, deps.failpoint, deps.onPlaced)) run.displaced.push({ rev: entry.rev, path });
      if (fetched) rmSync(_fetchDir(store, entry.rev), { recursive: true, force: true });
    }
    await table.journal.clear(entry.rev);
    if ("stage" in entry.source) removeStage(store, entry.source.stage);
    run.finished.push(entry.rev);
  }
  return run;
}

/**
 * Runs the journal right after a commit. Its failure is logged, not thrown: the revision is
 * committed (and its client is told so); the journal finishes it before the next request.
 */
export async function finishJournal(deps: JournalDeps): Promise<void> {
  try {
    _logRun(deps, await runJournal(deps));
  } catch (error) {
    deps.log?.(
      `${await _unfinished(deps.table)} is committed but its files are not all in the store yet: ${_why(error)}; trying again before the next request`,
    );
  }
}

/**
 * Before a request is served: finishes what the journal still holds, or throws SocError
 * "store_behind" (503) saying why, so that nobody reads a store that is behind its table.
 */
export async function requireJournalDone(deps: JournalDeps): Promise<void> {
  if (!(await deps.table.journal.pending())) return;
  try {
    _logRun(deps, await runJournal({ ...deps, onPlaced: undefined }));
  } catch (error) {
    const what = await _unfinished(deps.table);
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
export async function replayJournalAtStart(deps: JournalDeps): Promise<void> {
  try {
    const run = await runJournal({ ...deps, onPlaced: undefined });
    if (run.finished.length > 0) deps.log?.(`finished the file work of revision ${run.finished.join(", ")}, left unfinished by the last run`);
    _logRun(deps, run);
  } catch (error) {
    throw new SocError(
      "store_behind",
      `cannot put ${await _unfinished(deps.table)} in the store: ${_why(error)}; fix that and start the server again`,
    );
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

async function _unfinished(table: TablePort): Promise<string> {
  try {
    return `revision ${(await table.journal.entries()).map((e) => e.rev).join(", ")}`;
  } catch {
    return "a revision"; // the table cannot be read either: the caller's error says why
  }
}

function _why(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Applies one entry's file work (see runJournal); returns the store paths displaced. `fetched`
 * holds the content fetched from the object store by path (undefined: a later revision wrote over
 * it, and its blob is gone), when it comes from there rather than from the entry's source.
 */
function _applyRevision(
  store: Store,
  entry: JournalEntry,
  work: RevisionWork,
  fetched: Map<string, string | undefined> | undefined,
  failpoint?: Failpoint,
  onPlaced?: (rev: number) => void,
): string[] {
  const { rev } = entry;
  const { changes, keep } = work;
  const deletes = changes.filter((c) => c.action === "deleted").map((c) => c.path);
  const from = fetched ? (path: string) => fetched.get(path) : _sourceOf(store, entry);
  const move = fetched !== undefined || "stage" in entry.source;
  const writes = changes
    .filter((c) => c.action !== "deleted")
    .flatMap(({ path, mode, link }): StoreWrite[] => {
      if (link !== null) return [{ path, mode, link }];
      const file = from(path);
      return file === undefined ? [] : [{ path, mode, from: file, move }];
    });
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
function _sourceOf(store: Store, entry: JournalEntry): (path: string) => string {
  const { source } = entry;
  if ("stage" in source) {
    // A stage that is gone had every file moved out already: each write then finds nothing to move.
    const stage = stagePath(store, source.stage);
    const checked = new Set<string>();
    return (path) => resolveIn(stage, path, checked);
  }
  if ("blobs" in source) throw new Error(`revision ${entry.rev}'s content is in the object store, and this server is no node of a cluster`);
  const fromRev = new Map(source.versions.map((v) => [v.path, v.rev]));
  return (path) => {
    const rev = fromRev.get(path);
    if (rev === undefined) throw new Error(`the journal entry of revision ${entry.rev} names no source for ${JSON.stringify(path)}`);
    return versionFile(store, path, rev);
  };
}

/** Where a node puts the content of revision `rev` it fetches from the object store: `<stateDir>/fetch/<rev>/`, on the store's filesystem. */
function _fetchDir(store: Store, rev: number): string {
  return join(store.stateDir, "fetch", String(rev));
}

/**
 * Fetches from the object store the content revision `rev` writes (another node's push, or a
 * restore), BLOB_TRANSFERS at a time, each checked against its sha256. A blob that is gone is
 * skipped when a later revision has written over its path (its content was let go); otherwise
 * this throws naming the path and the blob.
 */
async function _fetchContent(deps: JournalDeps, rev: number, work: RevisionWork): Promise<Map<string, string | undefined>> {
  const { blobs, store, table } = deps;
  if (!blobs) throw new Error(`revision ${rev} is to be placed from the object store, and this server has none (--content)`);
  const dir = _fetchDir(store, rev);
  mkdirSync(dir, { recursive: true });
  const files = work.changes.filter((c) => c.action !== "deleted" && c.link === null);
  const fetched = new Map<string, string | undefined>();
  await eachInParallel(files, BLOB_TRANSFERS, async (c, i) => {
    const to = join(dir, String(i));
    try {
      if (c.sha256 === null) throw new Error("its row names no blob");
      await blobs.fetch(c.sha256, c.size, to);
      fetched.set(c.path, to);
    } catch (error) {
      const row = await table.readRow(c.path);
      if (row === undefined || row.rev <= rev)
        throw new Error(`cannot fetch the content of ${JSON.stringify(c.path)} from ${blobs.name}: ${_why(error)}`);
      fetched.set(c.path, undefined); // a later revision writes it: its content here was let go
    }
  });
  return fetched;
}
