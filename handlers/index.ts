import { Elysia, ValidationError } from "elysia";
import { SocError } from "../lib/shared/errors.ts";
import { MAX_BODY_BYTES, type ErrorBody } from "../lib/shared/protocol.ts";
import type { Store } from "../lib/server/store.ts";
import type { RsyncSession } from "../lib/server/tunnel-session.ts";
import type { Table } from "../lib/server/table.ts";
import { requestGuard } from "./auth.ts";
import { changesRoutes } from "./changes.ts";
import { healthRoutes } from "./health.ts";
import { historyRoutes } from "./history.ts";
import { infoRoutes } from "./info.ts";
import { openapiRoutes } from "./openapi.ts";
import { pushRoutes } from "./push.ts";
import { tunnelRoutes } from "./tunnel.ts";

/** What the HTTP app needs; nothing here reads the environment. */
export interface AppDeps {
  table: Table;
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
  /** Called with each rsync session the tunnel starts (tests read its queues). */
  onRsyncSession?: (session: RsyncSession) => void;
}

/** Builds the soc HTTP API (error mapping, the request guard, /v1/health, routes, OpenAPI document); never listens. */
export function createApp(deps: AppDeps) {
  const now = deps.now ?? Date.now;
  return new Elysia()
    .onError(({ code, error }) => _errorResponse(code, error, deps.onInternalError))
    .onRequest(({ request }) => {
      // Bun.serve enforces the limit with 413 too; this covers app.handle() and lying clients.
      if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) {
        throw new SocError("too_large", `request body over ${MAX_BODY_BYTES} bytes`, { status: 413 });
      }
    })
    .use(requestGuard({ token: deps.token, insecure: deps.insecure }))
    .use(healthRoutes())
    .use(infoRoutes(deps))
    .use(changesRoutes(deps))
    .use(pushRoutes({ ...deps, now }))
    .use(historyRoutes({ ...deps, now }))
    .use(tunnelRoutes(deps))
    .use(openapiRoutes(deps));
}

// ---------------------------------------------------------------------------

function _errorResponse(code: string | number, error: unknown, onInternal?: (error: unknown) => void): Response {
  if (error instanceof SocError) {
    const paths = error.details?.paths;
    const headers: Record<string, string> = error.status === 401 ? { "WWW-Authenticate": 'Bearer realm="soc"' } : {};
    return _json(error.status, { code: error.code, message: error.message, ...(Array.isArray(paths) ? { paths } : {}) }, headers);
  }
  if (error instanceof ValidationError && error.type !== "response") {
    return _json(400, { code: "bad_request", message: _validationMessage(error) });
  }
  if (code === "PARSE") return _json(400, { code: "bad_request", message: "malformed request body (expected JSON)" });
  if (code === "NOT_FOUND") return _json(404, { code: "not_found", message: "no such route" });
  onInternal?.(error);
  return _json(500, { code: "internal", message: "internal error" });
}

function _validationMessage(error: ValidationError): string {
  const detail = error.valueError;
  const field = (detail?.path ?? "").replace(/\/([0-9]+)(?=\/|$)/g, "[$1]").replaceAll("/", ".");
  const where = ["body", "query", "params", "headers"].includes(error.type) ? error.type : "request";
  const message = detail?.message === "Expected union value" ? "wrong type or format" : detail?.message;
  return `invalid ${where}${field}: ${message ?? "does not match the schema"}`;
}

function _json(status: number, error: ErrorBody["error"], headers: Record<string, string> = {}): Response {
  return Response.json({ error }, { status, headers });
}
