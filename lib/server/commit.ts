import { BadInputError } from "../shared/errors.ts";
import type { CommitProgress, FileRow, PushCommit, PushCommitRequest, Upsert } from "../shared/protocol.ts";
import { md5Bytes } from "../shared/hash.ts";
import { parentDirs, syncPaths } from "../shared/fs.ts";
import { finishJournal, type JournalDeps } from "./journal.ts";
import { enterJournal, leaveJournal, storePlaced, type JournalGate } from "./journal-gate.ts";
import { openStageDirs, readChangesetParts, removeStage, stageDir, verifyStage } from "./stage.ts";
import { dropUploads } from "./uploads.ts";
import { repairFromStage, resolveIn } from "./store.ts";
import { checkChangeset, NEW_FILE_MODE, type Changeset } from "./changeset-plan.ts";
import { uploadBlobs } from "./blob-upload.ts";
import type { BlobStore } from "./s3-blobs.ts";

/** What a commit needs besides the request: the server's state, clock, retention and log. */
export interface CommitDeps extends JournalDeps {
  now: () => number;
  /** Days replaced files are kept as versions; 0 keeps none. */
  keepDays: number;
  /** Sweeps expired versions (createSweeper); its failure is reported, not thrown. */
  sweep: () => Promise<number>;
  onInternalError?: (error: unknown) => void;
  /** Held from the transaction until the files are in place, when another thread serves requests meanwhile (journal-gate.ts). */
  gate?: JournalGate;
  /** The object store that also holds every content, by sha256 (--content s3://…). */
  blobs?: BlobStore;
}

/**
 * Commits a push. First, changing nothing: checks the changeset, verifies its stage (size and md5
 * of every upsert), checks each path is safe to write in the store, and syncs the staged files to
 * disk. With an object store (`blobs`), it then claims and uploads the staged files' blobs
 * (uploadBlobs), whose sha256 the rows name. Then commits the rows together with a journal
 * entry, and runs the journal to move the staged files into the store (keeping replaced files
 * as versions): the conflict check and the commit are one transaction of the table, so
 * concurrent commits serialize, and a crash after the commit is finished when the server starts
 * again. With `repair`, staged files whose rows are
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
    const whole = _wholeChangeset(deps, req);
    checkChangeset(whole);
    _checkLinks(whole.upserts);
    const verifying = (done: number, total: number) => onProgress?.({ step: "verifying", done, total });
    // A symlink travels in the changeset itself: nothing is staged for it.
    const files = whole.upserts.filter((u) => u.link === undefined);
    const sha256s: string[] | undefined = deps.blobs ? [] : undefined;
    const staged = await verifyStage(deps.store, req.stage, files, verifying, sha256s);
    const inStore = new Set<string>();
    for (const { path } of [...whole.upserts, ...whole.deletes]) resolveIn(deps.store.root, path, inStore);
    const stagedDirs = parentDirs(stageDir(deps.store, req.stage), staged);
    openStageDirs(stagedDirs); // the commit moves files out of them, whatever modes the client's rsync gave them
    syncPaths(staged, stagedDirs);
    deps.failpoint?.("staged");
    let change: Changeset = whole;
    if (deps.blobs && sha256s) {
      // Into the object store before the table's commit, which then writes rows only.
      await uploadBlobs({ ...deps, blobs: deps.blobs }, req.stage, staged, files, sha256s, onProgress);
      deps.failpoint?.("uploaded");
      const keyOf = new Map(files.map((u, i) => [u.path, sha256s[i] as string]));
      change = { ...whole, upserts: whole.upserts.map((u) => (u.link === undefined ? { ...u, sha256: keyOf.get(u.path) as string } : u)) };
    }
    const paths = change.upserts.length + change.deletes.length;
    onProgress?.({ step: "committing", done: 0, total: paths });
    const keepVersions = deps.keepDays > 0;
    // Holding the journal: until this revision's files are in place, no answer of the other thread shows it.
    if (deps.gate) await enterJournal(deps.gate, () => deps.table.journal.firstUnplaced());
    let result: PushCommit;
    let stored = false;
    const store = () => {
      stored = true;
      onProgress?.({ step: "storing", done: paths, total: paths });
      events.onStored?.(result);
    };
    try {
      // The table decides and writes in one transaction: a conflict found there changes nothing.
      result = await deps.table.commit(change, { nowMs: deps.now(), keepVersions, source: { stage: req.stage } });
      const placed = (rev: number) => {
        if (rev < result.revision || stored) return;
        if (deps.gate) storePlaced(deps.gate, rev);
        store();
      };
      try {
        if (req.repair)
          await _repair(
            deps,
            req.stage,
            change.upserts.filter((u) => u.link === undefined),
            result,
          );
      } finally {
        await finishJournal({ ...deps, onPlaced: placed }); // moves the files in, then removes the stage
      }
    } finally {
      if (deps.gate) leaveJournal(deps.gate);
    }
    if (!stored) store(); // nothing to place, or the journal could not: the caller answers now
    dropUploads(deps.store, change.upserts); // the http transport's uploads of what the store now holds
    try {
      await deps.sweep();
    } catch (error) {
      deps.onInternalError?.(error); // the commit stands; the timer sweeps again
    }
    return result;
  } finally {
    await abandonPush(deps, req.stage);
  }
}

/**
 * The client gives up push `stage` (a failed upload, a commit it could not send): its stage and
 * parts go at once, unless a commit already holds them (then the journal removes them when done).
 */
export async function abandonPush(deps: Pick<CommitDeps, "table" | "store">, stage: string): Promise<void> {
  await deps.table.blobs.release(stage); // its blobs are held by rows now, or by nothing
  if (!(await deps.table.journal.holdsStage(stage))) removeStage(deps.store, stage);
}

// ---------------------------------------------------------------------------

/** The request's changeset with the parts sent before it (POST /v1/push/part) in front. */
function _wholeChangeset(deps: CommitDeps, req: PushCommitRequest): PushCommitRequest {
  if (!req.parts) return req;
  const parts = readChangesetParts(deps.store, req.stage, req.parts);
  return { ...req, upserts: [...parts.upserts, ...req.upserts], deletes: [...parts.deletes, ...req.deletes] };
}

/** push --force: staged files whose rows this commit left unchanged go back over the store's copies. */
async function _repair(deps: CommitDeps, stage: string, upserts: readonly Upsert[], result: PushCommit): Promise<void> {
  if (deps.store.cache) return; // no tree to repair: the commit sent every blob the bucket lacked
  const stored = new Set(result.stored);
  // Read while this commit holds the journal: no other commit of this store can change them meanwhile.
  const rows = new Map<string, FileRow | undefined>();
  for (const u of upserts) if (!stored.has(u.path)) rows.set(u.path, await deps.table.readRow(u.path));
  const current = upserts.filter((u) => {
    const row = rows.get(u.path);
    return row !== undefined && !row.deleted && row.md5 === u.md5;
  });
  repairFromStage(
    deps.store,
    stageDir(deps.store, stage),
    current.map((u) => ({ path: u.path, mode: u.mode ?? rows.get(u.path)?.mode ?? NEW_FILE_MODE })),
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
