import { BadInputError } from "../shared/errors.ts";
import { ancestorPaths, checkRepoPath } from "../shared/paths.ts";
import type { CommitProgress, Delete, PushCommit, PushCommitRequest, RootRuleBody, Upsert } from "../shared/protocol.ts";
import { writeRevision } from "./revision.ts";
import { md5Bytes } from "../shared/hash.ts";
import { parentDirs, syncPaths } from "../shared/fs.ts";
import { finishJournal, firstUnplaced, recordJournal, stageInJournal, type JournalDeps, type JournalSource } from "./journal.ts";
import { enterJournal, leaveJournal, storePlaced, type JournalGate } from "./journal-gate.ts";
import { openStageDirs, readChangesetParts, removeStage, stageDir, verifyStage } from "./stage.ts";
import { dropUploads } from "./uploads.ts";
import { repairFromStage, resolveIn } from "./store.ts";
import { NEW_FILE_MODE, planChangeset } from "./changeset-plan.ts";
import { currentRevision, readRow, tableFacts, type Table } from "./table.ts";

/** What a commit needs besides the request: the server's state, clock, retention and log. */
export interface CommitDeps extends JournalDeps {
  now: () => number;
  /** Days replaced files are kept as versions; 0 keeps none. */
  keepDays: number;
  /** Sweeps expired versions (createSweeper); its failure is reported, not thrown. */
  sweep: () => number;
  onInternalError?: (error: unknown) => void;
  /** Held from the transaction until the files are in place, when another thread serves requests meanwhile (journal-gate.ts). */
  gate?: JournalGate;
}

/**
 * Commits a push. First, changing nothing: checks the changeset, verifies its stage (size and md5
 * of every upsert), checks each path is safe to write in the store, and syncs the staged files to
 * disk. Then commits the rows together with a journal entry, and runs the journal to move the
 * staged files into the store (keeping replaced files as versions): the conflict check and the
 * commit run as one synchronous step, so concurrent commits serialize, and a crash after the
 * commit is finished when the server starts again. With `repair`, staged files whose rows are
 * unchanged go back over the store's copies. The stage is removed once nothing needs it: a
 * refused push (a conflict, a mismatch) starts again with a new one.
 *
 * `onStored` gets the result as soon as the revision's files are all in the store, before the
 * rest (syncing the store's directories, clearing the journal entry, removing the stage, the
 * version sweep): the client can be answered then, since each of those is redone after a crash.
 * When they could not all be placed (the journal finishes them later), it is called once the
 * attempt is over.
 */
export async function commitPush(
  deps: CommitDeps,
  req: PushCommitRequest,
  events: { onProgress?: (p: CommitProgress) => void; onStored?: (result: PushCommit) => void } = {},
): Promise<PushCommit> {
  const { onProgress } = events;
  try {
    const change = _wholeChangeset(deps, req);
    checkChangeset(change);
    _checkLinks(change.upserts);
    const verifying = (done: number, total: number) => onProgress?.({ step: "verifying", done, total });
    // A symlink travels in the changeset itself: nothing is staged for it.
    const staged = await verifyStage(
      deps.store,
      req.stage,
      change.upserts.filter((u) => u.link === undefined),
      verifying,
    );
    const inStore = new Set<string>();
    for (const { path } of [...change.upserts, ...change.deletes]) resolveIn(deps.store.root, path, inStore);
    const stagedDirs = parentDirs(stageDir(deps.store, req.stage), staged);
    openStageDirs(stagedDirs); // the commit moves files out of them, whatever modes the client's rsync gave them
    syncPaths(staged, stagedDirs);
    deps.failpoint?.("staged");
    // No await from here on: the conflict check and the commit run as one synchronous step.
    const paths = change.upserts.length + change.deletes.length;
    onProgress?.({ step: "committing", done: 0, total: paths });
    const keepVersions = deps.keepDays > 0;
    // Holding the journal: until this revision's files are in place, no answer of the other thread shows it.
    if (deps.gate) enterJournal(deps.gate, () => firstUnplaced(deps.table));
    let result: PushCommit;
    let stored = false;
    const store = () => {
      stored = true;
      onProgress?.({ step: "storing", done: paths, total: paths });
      events.onStored?.(result);
    };
    try {
      result = commitChangeset(deps.table, change, { nowMs: deps.now(), keepVersions, source: { stage: req.stage } });
      const placed = (rev: number) => {
        if (rev < result.revision || stored) return;
        if (deps.gate) storePlaced(deps.gate);
        store();
      };
      try {
        if (req.repair)
          _repair(
            deps,
            req.stage,
            change.upserts.filter((u) => u.link === undefined),
            result,
          );
      } finally {
        finishJournal({ ...deps, onPlaced: placed }); // moves the files in, then removes the stage
      }
    } finally {
      if (deps.gate) leaveJournal(deps.gate);
    }
    if (!stored) store(); // nothing to place, or the journal could not: the caller answers now
    dropUploads(deps.store, change.upserts); // the http transport's uploads of what the store now holds
    try {
      deps.sweep();
    } catch (error) {
      deps.onInternalError?.(error); // the commit stands; the timer sweeps again
    }
    return result;
  } finally {
    if (!stageInJournal(deps.table, req.stage)) removeStage(deps.store, req.stage);
  }
}

/**
 * The client gives up push `stage` (a failed upload, a commit it could not send): its stage and
 * parts go at once, unless a commit already holds them (then the journal removes them when done).
 */
export function abandonPush(deps: Pick<CommitDeps, "table" | "store">, stage: string): void {
  if (!stageInJournal(deps.table, stage)) removeStage(deps.store, stage);
}

/** What a push asks the table to change (PushCommitRequest without the stage). */
export interface Changeset {
  client: string;
  upserts: readonly Upsert[];
  deletes: readonly Delete[];
  roots: { set: readonly RootRuleBody[]; remove: readonly string[] };
  /** Lets through a commit that deletes more than half of the live files (or all of them). */
  allowMassDelete?: boolean;
}

const INT64_MAX = 2n ** 63n - 1n;

/**
 * Checks a changeset without touching state: every path valid (BadInputError naming it),
 * no path twice, no upsert inside another upserted path, mtimes that fit 64 bits.
 */
export function checkChangeset(change: Changeset): void {
  const seen = new Set<string>();
  for (const { path } of [...change.upserts, ...change.deletes]) {
    checkRepoPath(path);
    if (seen.has(path)) throw new BadInputError(`path ${JSON.stringify(path)} appears twice in the changeset`);
    seen.add(path);
  }
  const upserted = new Set(change.upserts.map((u) => u.path));
  for (const u of change.upserts) {
    if (BigInt(u.mtimeNs) > INT64_MAX) throw new BadInputError(`mtimeNs of ${JSON.stringify(u.path)} is out of range`);
    const above = ancestorPaths(u.path).find((a) => upserted.has(a));
    if (above !== undefined) throw new BadInputError(`${JSON.stringify(u.path)} is inside upserted file ${JSON.stringify(above)}`);
  }
  const rootPaths = new Set<string>();
  for (const path of [...change.roots.set.map((r) => r.path), ...change.roots.remove]) {
    if (path !== "") checkRepoPath(path);
    if (rootPaths.has(path)) throw new BadInputError(`root ${JSON.stringify(path)} appears twice in the changeset`);
    rootPaths.add(path);
  }
}

/**
 * Commits a changeset's rows in one transaction: throws what planChangeset throws (a conflict, a
 * mass deletion, a base ahead of the server), else writes revision+1 and, given the `source` of
 * its new content, the journal entry that puts its files in the store (runJournal, after this
 * returns). Replaced files are recorded as versions unless `keepVersions` is false. A changeset
 * that changes nothing returns the current revision.
 */
export function commitChangeset(
  table: Table,
  change: Changeset,
  opts: { nowMs: number; keepVersions?: boolean; source?: JournalSource },
): PushCommit {
  checkChangeset(change);
  const { db } = table;
  return db
    .transaction(() => {
      const current = currentRevision(table);
      const plan = planChangeset(tableFacts(table, current), change);
      if (plan.stores.length === 0 && plan.deletes.length === 0 && plan.rootChanges === 0) {
        return { revision: current, stored: [], deleted: [] };
      }
      const rev = current + 1;
      const { stores, deletes, replaced } = plan;
      const keepVersions = opts.keepVersions ?? true;
      writeRevision(db, { rev, nowMs: opts.nowMs, client: change.client, writes: stores, deletes, replaced, keepVersions });
      const setRoot = db.query("INSERT INTO roots (path, kind) VALUES ($path, $kind) ON CONFLICT (path) DO UPDATE SET kind = $kind");
      for (const r of change.roots.set) setRoot.run({ path: r.path, kind: r.kind });
      for (const path of change.roots.remove) db.query("DELETE FROM roots WHERE path = $path").run({ path });
      if (opts.source) recordJournal(db, rev, opts.source);
      return { revision: rev, stored: plan.stores.map((u) => u.path), deleted: plan.deletes };
    })
    .immediate();
}

// ---------------------------------------------------------------------------

/** The request's changeset with the parts sent before it (POST /v1/push/part) in front. */
function _wholeChangeset(deps: CommitDeps, req: PushCommitRequest): PushCommitRequest {
  if (!req.parts) return req;
  const parts = readChangesetParts(deps.store, req.stage, req.parts);
  return { ...req, upserts: [...parts.upserts, ...req.upserts], deletes: [...parts.deletes, ...req.deletes] };
}

/** push --force: staged files whose rows this commit left unchanged go back over the store's copies. */
function _repair(deps: CommitDeps, stage: string, upserts: readonly Upsert[], result: PushCommit): void {
  const stored = new Set(result.stored);
  const md5Of = new Map(upserts.filter((u) => !stored.has(u.path)).map((u) => [u.path, u.md5]));
  const unchanged = upserts
    .filter((u) => md5Of.has(u.path))
    .map((u) => ({ path: u.path, mode: u.mode ?? readRow(deps.table, u.path)?.mode ?? NEW_FILE_MODE }));
  repairFromStage(
    deps.store,
    stageDir(deps.store, stage),
    unchanged,
    (path) => {
      const row = readRow(deps.table, path);
      return row !== undefined && !row.deleted && row.md5 === md5Of.get(path);
    },
    result.revision,
  );
}

/** A symlink's md5 and size are its target's: the server checks them, as it checks a staged file's. */
function _checkLinks(upserts: readonly Upsert[]): void {
  for (const u of upserts) {
    if (u.link === undefined || (md5Bytes(u.link) === u.md5 && Buffer.byteLength(u.link) === u.size)) continue;
    throw new BadInputError(`${JSON.stringify(u.path)}: a symlink's md5 and size must be its target's`, "bad_link");
  }
}
