import { SocError } from "../shared/errors.ts";
import type { CommitProgress, PushCommit, PushCommitRequest } from "../shared/protocol.ts";
import { commitPush, type CommitDeps } from "./commit.ts";
import { createFailpoint, type SharedFailpoint } from "./failpoint.ts";
import { createJournalGate } from "./journal-gate.ts";
import type { Store } from "./store.ts";
import { openTablePort } from "./open-table.ts";
import { openBlobStore, type BlobStoreOptions } from "./s3-blobs.ts";
import { createSweeper } from "./versions.ts";

// Entry of the commit worker (committer.ts): it opens its own connection to the table and runs
// each commit it is sent (checks, md5 of the stage, the transaction, the journal's file work), so
// that the main thread keeps serving requests meanwhile. The main thread sends one at a time.

declare const self: Worker;

/** The first message: where the state is, and what the main thread shares with this one. */
export interface CommitWorkerInit {
  type: "init";
  /** The table's location (openTablePort). */
  table: string;
  /** The node of a cluster this server is, if any (openTablePort). */
  node?: string;
  store: Store;
  keepDays: number;
  /** The object store commits upload to, if any. */
  content?: BlobStoreOptions;
  /** The journal gate's SharedArrayBuffer. */
  gate: SharedArrayBuffer;
  failpoint?: SharedFailpoint;
}

/** A commit to run; `nowMs` is the main thread's clock when it was asked for. */
export interface CommitJob {
  type: "commit";
  id: number;
  request: PushCommitRequest;
  nowMs: number;
}

/** A SocError as it crosses threads. */
export interface SocErrorData {
  code: string;
  message: string;
  status: number;
  exitCode: SocError["exitCode"];
  details?: Record<string, unknown>;
}

/** What the worker sends back: a job's progress, result or error, then that all its work is done; a log line; an unexpected error's text. */
export type CommitWorkerReply =
  | { id: number; progress: CommitProgress }
  | { id: number; result: PushCommit }
  | { id: number; done: true }
  | { id: number; error: SocErrorData }
  | { id: number; internal: string }
  | { log: string }
  | { internal: string };

let opened: Promise<CommitDeps> | undefined;
let nowMs = 0;
/** The jobs, one after another: the main thread sends the next one as soon as the last is answered. */
let jobs: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<CommitWorkerInit | CommitJob>) => {
  const msg = e.data;
  if (msg.type === "init") {
    opened = _open(msg);
    opened.catch(() => {}); // the first commit reports it
    return;
  }
  // Each after the whole work of the one before: the next job's wait for the journal blocks this
  // thread, and the last one's work may still need it to hear from its database.
  jobs = jobs.then(() => _run(msg));
};

async function _run(msg: CommitJob): Promise<void> {
  const reply = (r: CommitWorkerReply) => postMessage(r);
  try {
    if (opened === undefined) throw new Error("the commit worker got a commit before its state");
    const deps = await opened;
    nowMs = msg.nowMs;
    // The answer goes as soon as the files are in the store; the rest of the commit's work, and
    // then a checkpoint of the WAL, follow before the next message is read.
    await commitPush(deps, msg.request, {
      onProgress: (progress) => reply({ id: msg.id, progress }),
      onStored: (result) => reply({ id: msg.id, result }),
    });
    _checkpoint(deps);
  } catch (error) {
    if (error instanceof SocError) {
      const { code, message, status, exitCode, details } = error;
      reply({ id: msg.id, error: { code, message, status, exitCode, ...(details ? { details } : {}) } });
    } else {
      reply({ id: msg.id, internal: _text(error) });
    }
  } finally {
    reply({ id: msg.id, done: true });
  }
}

// ---------------------------------------------------------------------------

async function _open(init: CommitWorkerInit): Promise<CommitDeps> {
  // A big commit fills SQLite's WAL past its threshold, and its own COMMIT would then copy it back
  // into the database before the client is answered: this connection checkpoints after answering.
  const table = await openTablePort(init.table, { commitThread: true, ...(init.node === undefined ? {} : { node: init.node }) });
  const { store, keepDays } = init;
  const now = () => nowMs;
  return {
    table,
    store,
    now,
    keepDays,
    sweep: createSweeper(table, store, { keepDays, now }),
    gate: createJournalGate(init.gate),
    ...(init.content ? { blobs: openBlobStore(init.content) } : {}),
    failpoint: init.failpoint && createFailpoint(init.failpoint.spec, init.failpoint.seen),
    log: (line) => postMessage({ log: line } satisfies CommitWorkerReply),
    onInternalError: (error) => postMessage({ internal: _text(error) } satisfies CommitWorkerReply),
  };
}

/** Copies SQLite's WAL back into the database as far as no reader needs it (the other thread's connection may hold a snapshot). */
function _checkpoint(deps: CommitDeps): void {
  try {
    deps.table.checkpoint();
  } catch (error) {
    deps.onInternalError?.(error);
  }
}

function _text(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
