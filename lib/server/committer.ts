import { ConflictError, SocError } from "../shared/errors.ts";
import type { CommitProgress, PushCommit, PushCommitRequest } from "../shared/protocol.ts";
import { abandonPush, commitPush } from "./commit.ts";
import type { CommitJob, CommitWorkerInit, CommitWorkerReply, SocErrorData } from "./commit-worker.ts";
import type { Failpoint, SharedFailpoint } from "./failpoint.ts";
import { createJournalGate, resetJournalGate, type JournalGate } from "./journal-gate.ts";
import type { Store } from "./store.ts";
import type { Table } from "./table.ts";
import { createSweeper } from "./versions.ts";

/** How long the commit worker may sit idle before it is stopped (the next commit starts another). */
const IDLE_MS = 30_000;

/** Runs push commits one at a time, in order of arrival; see createCommitter. `await using` closes it. */
export interface Committer extends AsyncDisposable {
  /** Who holds the redo journal (the requests' gate waits on it). */
  readonly gate: JournalGate;
  /** Whether commits run in a worker thread ("worker") or on this thread ("inline"). */
  readonly mode: "worker" | "inline";
  /** Commits a push (commitPush), after every commit asked for before it; throws what commitPush throws. */
  commit(request: PushCommitRequest, onProgress?: (p: CommitProgress) => void): Promise<PushCommit>;
  /**
   * Drops push `stage` (abandonPush) once the commits asked for before are done: a client whose
   * commit's answer was cut off gives its stage up while that very commit may still be moving
   * the stage's files into the store.
   */
  abandon(stage: string): Promise<void>;
  /** Stops the worker once the commits asked for so far are done. */
  close(): Promise<void>;
}

/** What commits need from the server; `now` is read on this thread, once per commit. */
export interface CommitterDeps {
  table: Table;
  store: Store;
  now: () => number;
  keepDays: number;
  log?: (line: string) => void;
  onInternalError?: (error: unknown) => void;
  failpoint?: Failpoint & { shared?: SharedFailpoint };
}

/**
 * Runs commits in a worker thread with its own connection to the table, so this thread serves
 * requests while one runs (its md5 pass, its syncs, its transaction, its file work): the worker
 * holds the journal gate from its transaction until its files are in place. Commits still run one
 * at a time. An in-memory table, or a failpoint that cannot cross threads (a test's own
 * function), keeps them on this thread ("inline"). A worker that dies fails its commit with an
 * internal error and lets the gate go: the next request finishes what it left in the journal.
 */
export function createCommitter(deps: CommitterDeps): Committer {
  const gate = createJournalGate();
  const dbFile = deps.table.db.filename;
  const inline = dbFile === "" || dbFile === ":memory:" || (deps.failpoint !== undefined && deps.failpoint.shared === undefined);
  let tail: Promise<unknown> = Promise.resolve();
  const queued = <T>(run: () => Promise<T>): Promise<T> => {
    const next = tail.then(run);
    tail = next.catch(() => {});
    return next;
  };
  const abandon = (stage: string) => queued(async () => abandonPush(deps, stage));
  if (inline) {
    const commitDeps = { ...deps, gate, sweep: createSweeper(deps.table, deps.store, { keepDays: deps.keepDays, now: deps.now }) };
    return {
      gate,
      mode: "inline",
      commit: (request, onProgress) => queued(() => commitPush(commitDeps, request, onProgress)),
      abandon,
      close: async () => {
        await tail;
      },
      [Symbol.asyncDispose]: async () => {
        await tail;
      },
    };
  }
  const init: CommitWorkerInit = {
    type: "init",
    dbFile,
    store: deps.store,
    keepDays: deps.keepDays,
    gate: gate.word.buffer as SharedArrayBuffer,
    ...(deps.failpoint?.shared ? { failpoint: deps.failpoint.shared } : {}),
  };
  const worker = _workerSlot(init, gate, deps);
  let nextId = 0;
  const close = async () => {
    await tail;
    worker.stop();
  };
  return {
    gate,
    mode: "worker",
    commit: (request, onProgress) => queued(() => worker.run({ type: "commit", id: ++nextId, request, nowMs: deps.now() }, onProgress)),
    abandon,
    close,
    [Symbol.asyncDispose]: close,
  };
}

// ---------------------------------------------------------------------------

/** One commit worker, started when a job comes, stopped after IDLE_MS without one or when it fails. */
function _workerSlot(init: CommitWorkerInit, gate: JournalGate, deps: CommitterDeps) {
  let worker: Worker | undefined;
  let idle: Timer | undefined;
  let current: { id: number; onProgress?: (p: CommitProgress) => void; resolve: (r: PushCommit) => void; reject: (e: unknown) => void } | undefined;
  const stop = () => {
    clearTimeout(idle);
    worker?.terminate();
    worker = undefined;
  };
  const failed = (why: string) => {
    stop();
    resetJournalGate(gate); // it holds nothing now; what it left in the journal, the next request finishes
    current?.reject(new Error(`the commit worker stopped: ${why}`));
    current = undefined;
  };
  const onReply = (reply: CommitWorkerReply) => {
    if ("log" in reply) return deps.log?.(reply.log);
    if (!("id" in reply)) return deps.onInternalError?.(new Error(`commit worker: ${reply.internal}`));
    if (current === undefined || reply.id !== current.id) return;
    if ("progress" in reply) return current.onProgress?.(reply.progress);
    const job = current;
    current = undefined;
    if ("result" in reply) job.resolve(reply.result);
    else if ("error" in reply) job.reject(_socError(reply.error));
    else job.reject(new Error(`commit worker: ${reply.internal}`));
  };
  const start = (): Worker => {
    const w = new Worker(new URL("./commit-worker.ts", import.meta.url).href);
    w.onmessage = (e: MessageEvent<CommitWorkerReply>) => onReply(e.data);
    w.onerror = (e) => failed(e.message);
    w.addEventListener("close", () => worker === w && failed("it exited"));
    w.postMessage(init);
    return w;
  };
  return {
    run(job: CommitJob, onProgress?: (p: CommitProgress) => void): Promise<PushCommit> {
      clearTimeout(idle);
      worker ??= start();
      const w = worker;
      w.ref(); // a commit under way keeps the process alive; an idle worker does not
      return new Promise<PushCommit>((resolve, reject) => {
        current = { id: job.id, onProgress, resolve, reject };
        w.postMessage(job);
      }).finally(() => {
        w.unref();
        if (worker === w) idle = setTimeout(stop, IDLE_MS).unref();
      });
    },
    stop,
  };
}

/** The SocError (a ConflictError for a conflict) the worker threw, rebuilt on this thread. */
function _socError(e: SocErrorData): SocError {
  const paths = e.details?.paths;
  if (e.code === "conflict" && Array.isArray(paths)) return new ConflictError(e.message, paths as string[]);
  return new SocError(e.code, e.message, { status: e.status, exitCode: e.exitCode, details: e.details });
}
