import { Elysia } from "elysia";
import { SocError } from "../lib/shared/errors.ts";
import { MAX_BODY_BYTES } from "../lib/shared/wire.ts";
import type { Failpoint } from "../lib/server/failpoint.ts";
import { createCommitter, type Committer } from "../lib/server/committer.ts";
import { DEFAULT_KEEP_DAYS } from "../lib/server/config.ts";
import type { BlobCache } from "../lib/server/blob-cache.ts";
import { storeWhole } from "../lib/server/journal-gate.ts";
import { createAnnouncer, type Announcer } from "../lib/server/announcer.ts";
import { openBlobStore, type BlobStoreOptions } from "../lib/server/s3-blobs.ts";
import type { Store } from "../lib/server/store.ts";
import type { RsyncSession } from "../lib/server/tunnel-session.ts";
import type { TablePort } from "../lib/server/table-port.ts";
import { requestGuard } from "./auth.ts";
import { errorBody } from "./errors.ts";
import { changesRoutes } from "./changes.ts";
import { HEALTH_PATH, healthRoutes } from "./health.ts";
import { historyRoutes } from "./history.ts";
import { infoRoutes } from "./info.ts";
import { openapiRoutes } from "./openapi.ts";
import { pushRoutes } from "./push.ts";
import { tunnelRoutes } from "./tunnel.ts";
import { UPLOADS_PREFIX, uploadRoutes } from "./uploads.ts";
import { viewRoutes } from "./views.ts";

/** What the HTTP app needs; nothing here reads the environment. */
export interface AppDeps {
  table: TablePort;
  store: Store;
  /** Bearer token required by every route but /v1/health; undefined = open (to loopback requests only). */
  token?: string;
  /** Without a token, answer requests for any Host, not just loopback names (server --insecure). */
  insecure?: boolean;
  /** soc version reported by /v1/info. */
  version: string;
  /** Clock in ms since the epoch (tests pass a fixed one). */
  now?: () => number;
  /** Days replaced and deleted files are kept as versions (default 30); 0 keeps none. */
  keepDays?: number;
  /** Tunnel (rsync) sessions served at once (default 16); more get 503 "busy". */
  maxRsyncSessions?: number;
  /** Called with every unexpected error (the client only sees a generic 500). */
  onInternalError?: (error: unknown) => void;
  /** One line per problem or repair the client is not told about (a commit whose files wait in the journal). */
  log?: (line: string) => void;
  /** The object store that also holds every content (--content s3://…), by sha256. */
  content?: BlobStoreOptions;
  /** A node with a cache (a store opened with `cache`): its cache of the object store's blobs. */
  cache?: BlobCache;
  /** Crash tests only: where a commit fails or dies (SOC_TEST_FAILPOINT); one made by createFailpoint also cuts commits in the worker. */
  failpoint?: Failpoint;
  /** Runs push commits (default: createCommitter over this table and store, in a worker thread when it can). */
  committer?: Committer;
  /** Wakes long polls (default: createAnnouncer over this table); disposing it answers every held poll at once (shutdown). */
  announcer?: Announcer;
  /** Called with each rsync session the tunnel starts (tests read its queues). */
  onRsyncSession?: (session: RsyncSession) => void;
}

/** Builds the soc HTTP API (error mapping, the request guard, /v1/health, routes, OpenAPI document); never listens. */
export function createApp(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  const keepDays = deps.keepDays ?? DEFAULT_KEEP_DAYS;
  const commits = deps.committer ?? createCommitter({ ...deps, now, keepDays });
  // Long polls wait on it; a commit or restore announces its revision once its files are in place.
  const announcer = deps.announcer ?? createAnnouncer(() => deps.table.knownHead());
  const announce = () => announcer.announce();
  const blobs = deps.content && openBlobStore(deps.content);
  // The journal's work on this thread (a node of a cluster places others' revisions from the object store).
  const journal = { ...deps, ...(blobs ? { blobs } : {}) };
  deps.table.onHeadMove(() => {
    // A commit through another server sharing the table: a node places it at once, then wakes the long polls.
    if (deps.table.cluster) void storeWhole(commits.gate, journal, "read").catch((error) => deps.log?.(String(error)));
    announce();
  });
  return new Elysia()
    .onError(({ code, error }) => _errorResponse(code, error, deps.onInternalError))
    .onRequest(({ request }) => {
      // Uploads stream to disk, of any size; every other body is read whole, so it is bounded: by
      // its Content-Length here, and as it streams without one in server.ts (boundedBody).
      if (new URL(request.url).pathname.startsWith(UPLOADS_PREFIX)) return;
      if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) {
        throw new SocError("too_large", `request body over ${MAX_BODY_BYTES} bytes`, { status: 413 });
      }
    })
    .use(requestGuard({ token: deps.token, insecure: deps.insecure }))
    .onRequest(async ({ request }) => {
      // Nobody reads or writes a store that is behind its table: a failed commit's files go first,
      // and a write waits while the commit worker places a revision's files.
      if (new URL(request.url).pathname !== HEALTH_PATH) await storeWhole(commits.gate, journal, request.method === "GET" ? "read" : "write");
    })
    .onAfterHandle(async ({ request }) => {
      // A read is answered at once unless the table it read may hold a revision whose files are
      // still being placed: then once they are (a client acts on the answer only after that).
      if (request.method === "GET" && new URL(request.url).pathname !== HEALTH_PATH) await storeWhole(commits.gate, journal, "answer");
    })
    .use(healthRoutes())
    .use(infoRoutes(deps))
    .use(changesRoutes({ ...deps, announcer }))
    .use(pushRoutes({ ...deps, now, commits, announce }))
    .use(historyRoutes({ ...journal, now, gate: commits.gate, announce }))
    .use(viewRoutes({ ...deps, now }))
    .use(tunnelRoutes(deps))
    .use(uploadRoutes(deps))
    .use(openapiRoutes(deps));
}

// ---------------------------------------------------------------------------

function _errorResponse(code: string | number, error: unknown, onInternal?: (error: unknown) => void): Response {
  const { status, body } = errorBody(code, error, onInternal);
  const headers: Record<string, string> = status === 401 ? { "WWW-Authenticate": 'Bearer realm="soc"' } : {};
  return Response.json(body, { status, headers });
}
