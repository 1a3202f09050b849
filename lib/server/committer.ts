import { ConflictError, SocError } from "../shared/errors.ts";
import type { CommitProgress, PushCommit, PushCommitRequest } from "../shared/protocol.ts";
import { abandonPush, commitPush } from "./commit.ts";
import type { CommitJob, CommitWorkerInit, CommitWorkerReply, SocErrorData } from "./commit-worker.ts";
import type { Failpoint, SharedFailpoint } from "./failpoint.ts";
import { createJournalGate, resetJournalGate, type JournalGate } from "./journal-gate.ts";
import type { Store } from "./store.ts";
import type { TablePort } from "./table-port.ts";
import { openBlobStore, type BlobStoreOptions } from "./s3-blobs.ts";
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
  /**
   * Resolves once every commit asked for so far has done all its work: a commit is answered as
   * soon as its files are in the store, and then syncs them, clears its journal entry, removes its stage.
   */
  finished(): Promise<void>;
  /** Stops the worker once the commits asked for so far are done. */
  close(): Promise<void>;
}

/** What commits need from the server; `now` is read on this thread, once per commit. */
export interface CommitterDeps {
  table: TablePort;
  store: Store;
  now: () => number;
  keepDays: number;
  log?: (line: string) => void;
  onInternalError?: (error: unknown) => void;
  failpoint?: Failpoint & { shared?: SharedFailpoint };
  /** The object store that also holds every content (--content s3://…): where commits upload. */
  content?: BlobStoreOptions;
}

/**
 * Runs commits in a worker thread with its own connection to the table (opened at its `location`), so this thread serves
 * requests while one runs (its md5 pass, its syncs, its transaction, its file work): the worker
 * holds the journal gate from its transaction until its files are in place. Commits still run one
 * at a time. An in-memory table, or a failpoint that cannot cross threads (a test's own
 * function), keeps them on this thread ("inline"). A worker that dies fails its commit with an
 * internal error and lets the gate go: the next request finishes what it left in the journal.
 */
export function createCommitter(deps: CommitterDeps): Committer {
  const gate = createJournalGate();
  const location = deps.table.location;
  const inline = location === undefined || (deps.failpoint !== undefined && deps.failpoint.shared === undefined);
  let tail: Promise<unknown> = Promise.resolve();
  const queued = <T>(run: () => Promise<T>): Promise<T> => {
    const next = tail.then(run);
    tail = next.catch(() => {});
    return next;
  };
  if (inline) {
    const abandon = (stage: string) => queued(() => abandonPush(deps, stage));
    const commitDeps = {
      ...deps,
      gate,
      sweep: createSweeper(deps.table, deps.store, { keepDays: deps.keepDays, now: deps.now }),
      ...(deps.content ? { blobs: openBlobStore(deps.content) } : {}),
    };
    return {
      gate,
      mode: "inline",
      commit: (request, onProgress) => queued(() => commitPush(commitDeps, request, { onProgress })),
      abandon,
      finished: async () => {
        await tail;
      },
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
    table: location,
    ...(deps.table.cluster ? { node: deps.table.cluster.node } : {}),
    store: deps.store,
    keepDays: deps.keepDays,
    gate: gate.word.buffer as SharedArrayBuffer,
    ...(deps.content ? { content: deps.content } : {}),
    ...(deps.failpoint?.shared ? { failpoint: deps.failpoint.shared } : {}),
  };
  const worker = _workerSlot(init, gate, deps);
  let nextId = 0;
  const finished = async () => {
    await tail;
    await worker.finished();
  };
  // After the work of the commits before it, which may be moving that very stage's files.
  const abandon = (stage: string) =>
    queued(async () => {
      await worker.finished();
      await abandonPush(deps, stage);
    });
  const close = async () => {
    await finished();
    worker.stop();
  };
  return {
    gate,
    mode: "worker",
    commit: (request, onProgress) => queued(() => worker.run({ type: "commit", id: ++nextId, request, nowMs: deps.now() }, onProgress)),
    abandon,
    finished,
    close,
    [Symbol.asyncDispose]: close,
  };
}

// ---------------------------------------------------------------------------

/**
 * One commit worker, started when a job comes, stopped after IDLE_MS without one or when it fails.
 * A job is answered as soon as its result comes; the worker goes on with the commit's remaining
 * work (commitPush's onStored), which `finished` waits for.
 */
function _workerSlot(init: CommitWorkerInit, gate: JournalGate, deps: CommitterDeps) {
  let worker: Worker | undefined;
  let idle: Timer | undefined;
  let unfinished = 0; // jobs sent whose "done" has not come back
  const onFinished: (() => void)[] = [];
  const settle = (jobs: number) => {
    unfinished = Math.max(0, unfinished - jobs);
    if (unfinished > 0) return;
    if (worker) {
      worker.unref(); // a commit under way keeps the process alive; an idle worker does not
      const w = worker;
      idle = setTimeout(() => worker === w && stop(), IDLE_MS).unref();
    }
    for (const resolve of onFinished.splice(0)) resolve();
  };
  let current: { id: number; onProgress?: (p: CommitProgress) => void; resolve: (r: PushCommit) => void; reject: (e: unknown) => void } | undefined;
  const stop = () => {
    clearTimeout(idle);
    worker?.terminate();
    worker = undefined;
  };
  const failed = (why: string) => {
    stop();
    settle(unfinished);
    resetJournalGate(gate); // it holds nothing now; what it left in the journal, the next request finishes
    current?.reject(new Error(`the commit worker stopped: ${why}`));
    current = undefined;
  };
  const onReply = (reply: CommitWorkerReply) => {
    if ("log" in reply) return deps.log?.(reply.log);
    if (!("id" in reply)) return deps.onInternalError?.(new Error(`commit worker: ${reply.internal}`));
    if ("done" in reply) return settle(1);
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
      w.ref();
      unfinished++;
      return new Promise<PushCommit>((resolve, reject) => {
        current = { id: job.id, onProgress, resolve, reject };
        w.postMessage(job);
      });
    },
    /** Resolves once the worker has done all the work of every job sent to it (or has stopped). */
    finished(): Promise<void> {
      return unfinished === 0 ? Promise.resolve() : new Promise<void>((resolve) => onFinished.push(resolve));
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
