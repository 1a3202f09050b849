import { Elysia, t } from "elysia";
import type { Committer } from "../lib/server/committer.ts";
import { createStage, saveChangesetPart } from "../lib/server/stage.ts";
import type { Store } from "../lib/server/store.ts";
import {
  PushAbortRequest,
  PushBegin,
  PushBeginRequest,
  PushCommit,
  PushCommitRequest,
  PushPart,
  PushPartRequest,
  type CommitProgress,
} from "../lib/shared/protocol.ts";
import { COMMIT_STREAM_TYPE } from "../lib/shared/wire.ts";
import { errorBody } from "./errors.ts";

/** How often a streamed commit repeats its progress while it works, so no proxy takes the quiet for a dead server. */
const HEARTBEAT_MS = 5_000;

/**
 * POST /v1/push/begin (a fresh stage), /v1/push/part (a part of a big changeset), /v1/push/abort
 * (give a push up) and /v1/push/commit (check, verify, commit the rows, move the files: through
 * `commits`, one at a time, off this thread when it can). A commit asked for with
 * `Accept: application/x-ndjson` streams its progress, then its result or error.
 */
export function pushRoutes(deps: {
  store: Store;
  now: () => number;
  commits: Committer;
  /** Called after each commit, to wake long polls. */
  announce?: () => void;
  onInternalError?: (error: unknown) => void;
}) {
  const commit = async (body: PushCommitRequest, onProgress?: (p: CommitProgress) => void) => {
    const result = await deps.commits.commit(body, onProgress);
    deps.announce?.();
    return result;
  };
  return new Elysia({ prefix: "/v1/push" })
    .post(
      "/begin",
      (): PushBegin => {
        const stage = createStage(deps.store, deps.now());
        return { stage: stage.id, stagePath: stage.path };
      },
      { body: PushBeginRequest, response: PushBegin },
    )
    .post(
      "/part",
      ({ body }): PushPart => {
        saveChangesetPart(deps.store, body.stage, body.part, body);
        return { part: body.part };
      },
      { body: PushPartRequest, response: PushPart },
    )
    .post(
      "/abort",
      async ({ body }) => {
        await deps.commits.abandon(body.stage);
        return { aborted: true };
      },
      { body: PushAbortRequest, response: t.Object({ aborted: t.Boolean() }) },
    )
    .post(
      "/commit",
      ({ body, request, server }) => {
        if (!request.headers.get("accept")?.includes(COMMIT_STREAM_TYPE)) return commit(body);
        server?.timeout(request, 0); // however long it takes: the heartbeat shows it is alive
        return _streamCommit((onProgress) => commit(body, onProgress), deps.onInternalError);
      },
      { body: PushCommitRequest, response: PushCommit },
    );
}

// ---------------------------------------------------------------------------

/** Runs `work`, answering at once with a stream of `{progress}` lines, then `{result}` or `{error, status}`. */
function _streamCommit(work: (onProgress: (p: CommitProgress) => void) => Promise<PushCommit>, onInternal?: (error: unknown) => void): Response {
  const encoder = new TextEncoder();
  let last: CommitProgress | undefined;
  let sentAt = 0;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (line: object) => controller.enqueue(encoder.encode(`${JSON.stringify(line)}\n`));
      const onProgress = (p: CommitProgress) => {
        const newStep = p.step !== last?.step;
        last = p;
        // A new step and the end of one always; otherwise a few lines a second (the md5 pass reports every file).
        if (newStep || p.done === p.total || performance.now() - sentAt > 200) {
          sentAt = performance.now();
          send({ progress: p });
        }
      };
      const heartbeat = setInterval(() => send({ progress: last ?? { step: "verifying", done: 0, total: 0 } }), HEARTBEAT_MS);
      // The answer's head and a first line go out before the work, whose first steps run without a pause.
      send({ progress: { step: "verifying", done: 0, total: 0 } });
      Bun.sleep(0)
        .then(() => work(onProgress))
        .then((result) => send({ result }))
        .catch((error: unknown) => {
          const { status, body } = errorBody("UNKNOWN", error, onInternal);
          send({ ...body, status });
        })
        .finally(() => {
          clearInterval(heartbeat);
          controller.close();
        });
    },
  });
  return new Response(stream, { headers: { "content-type": COMMIT_STREAM_TYPE, "x-accel-buffering": "no", "cache-control": "no-store" } });
}
