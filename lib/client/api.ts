import { ConflictError, RemoteError, SocError } from "../shared/errors.ts";
import type { Changes, ErrorBody, Info, Log, PushBegin, PushCommit, PushCommitRequest, Restore, RestoreRequest, Verify } from "../shared/protocol.ts";

/** Typed calls to a soc server's `/v1` API. */
export interface RemoteClient {
  url: string;
  info(): Promise<Info>;
  changes(since: number): Promise<Changes>;
  beginPush(client: string): Promise<PushBegin>;
  commitPush(request: PushCommitRequest): Promise<PushCommit>;
  log(query: { path?: string; limit?: number }): Promise<Log>;
  /** The bytes of `path` as of revision `rev` (default: current), as a stream, with the digest the server names for them. */
  content(path: string, rev?: number): Promise<RemoteContent>;
  restore(request: RestoreRequest): Promise<Restore>;
  verify(): Promise<Verify>;
}

/** A file's bytes from GET /v1/content and what the server says they are (x-soc-rev, x-soc-md5); unchecked. */
export interface RemoteContent {
  body: ReadableStream<Uint8Array>;
  /** The revision that wrote this content; undefined when the server did not say. */
  rev: number | undefined;
  /** The hex md5 the bytes should have; undefined when the server did not say. */
  md5: string | undefined;
}

/** How long one API call may take before the server counts as unreachable. */
const TIMEOUT_MS = 120_000;

/**
 * A client for the server at `url` (http or https, any path prefix). Network failures and 401
 * throw RemoteError (exit 4), 409 throws ConflictError (exit 3), other errors SocError with
 * the server's message. The token travels only in the Authorization header.
 */
export function createClient(url: string, token: string | undefined): RemoteClient {
  const base = url.replace(/\/+$/, "");
  const send = async (method: "GET" | "POST", path: string, body?: unknown): Promise<Response> => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new RemoteError(`cannot reach the soc server at ${base}: ${(err as Error).message}`);
    }
    if (!res.ok) throw _errorFrom(res.status, await res.text(), base);
    return res;
  };
  const call = async <T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> => (await (await send(method, path, body)).json()) as T;
  const query = (params: Record<string, string | number | undefined>) =>
    new URLSearchParams(Object.entries(params).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]]))).toString();
  return {
    url: base,
    info: () => call<Info>("GET", "/v1/info"),
    changes: (since) => call<Changes>("GET", `/v1/changes?since=${since}`),
    beginPush: (client) => call<PushBegin>("POST", "/v1/push/begin", { client }),
    commitPush: (request) => call<PushCommit>("POST", "/v1/push/commit", request),
    log: (q) => call<Log>("GET", `/v1/log?${query(q)}`),
    content: async (path, rev) => _content(await send("GET", `/v1/content?${query({ path, rev })}`)),
    restore: (request) => call<Restore>("POST", "/v1/restore", request),
    verify: () => call<Verify>("POST", "/v1/verify"),
  };
}

// ---------------------------------------------------------------------------

function _content(res: Response): RemoteContent {
  const rev = Number(res.headers.get("x-soc-rev") ?? Number.NaN);
  return {
    body: res.body ?? new ReadableStream(),
    rev: Number.isSafeInteger(rev) ? rev : undefined,
    md5: res.headers.get("x-soc-md5") ?? undefined,
  };
}

function _errorFrom(status: number, text: string, base: string): SocError {
  let error: ErrorBody["error"] | undefined;
  try {
    error = (JSON.parse(text) as ErrorBody).error;
  } catch {
    error = undefined;
  }
  if (status === 401) {
    return new RemoteError(
      `unauthorized: the soc server at ${base} refused the token (set it with \`soc init URL --token T\` or SOC_TOKEN)`,
      "unauthorized",
      401,
    );
  }
  if (status === 409 && error?.paths) return new ConflictError(error.message, error.paths);
  if (!error)
    return new RemoteError(`the soc server at ${base} answered HTTP ${status} without a soc error (is this a soc server?)`, "bad_response", status);
  return new SocError(error.code, `server: ${error.message}`, { status });
}
