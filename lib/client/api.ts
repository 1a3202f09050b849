import { ConflictError, RemoteError, SocError } from "../shared/errors.ts";
import { comparePaths } from "../shared/paths.ts";
import {
  type Changes,
  type CommitProgress,
  type ErrorBody,
  type FileRow,
  type Info,
  type Log,
  type Place,
  type PlaceRequest,
  type Upload,
  type PushBasis,
  type PushBegin,
  type PushCommit,
  type PushCommitRequest,
  type PushPart,
  type PushPartRequest,
  type Restore,
  type RestoreRequest,
  type Verify,
  type ViewBegin,
  type ViewPart,
} from "../shared/protocol.ts";
import { CHANGESET_PART_BYTES, COMMIT_STREAM_TYPE, VIEW_MAX_PATHS } from "../shared/wire.ts";
import { inBatches } from "../shared/batches.ts";

/** Typed calls to a soc server's `/v1` API. */
export interface RemoteClient {
  url: string;
  info(): Promise<Info>;
  /** Every row changed after revision `since`, fetched page by page, and the revision they complete. */
  changes(since: number): Promise<Changes>;
  /**
   * A long poll: answers once the server has a revision after `since`, or after `seconds` (at
   * most 25) without one, with the server's head and database id either way. Throws RemoteError
   * when `signal` aborts it.
   */
  waitForChange(since: number, seconds: number, signal?: AbortSignal): Promise<{ head: number; database?: string }>;
  beginPush(client: string): Promise<PushBegin>;
  /** Sends one part of a changeset too big for one request (see CHANGESET_PART_BYTES). */
  sendPushPart(request: PushPartRequest): Promise<PushPart>;
  /** Commits a push, however long that takes, reporting the server's progress as it comes. */
  commitPush(request: PushCommitRequest, onProgress?: (p: CommitProgress) => void): Promise<PushCommit>;
  /** Gives a push up: the server removes its stage unless a commit holds it. Never throws. */
  abortPush(stage: string): Promise<void>;
  log(query: { path?: string; limit?: number }): Promise<Log>;
  /**
   * The bytes of `path` as of revision `rev` (default: current), as a stream, with the digest the
   * server names for them. With `from`, only the bytes after `from.offset`, if the content is
   * still the one whose md5 is `from.md5` (else all of it: see RemoteContent.offset).
   */
  content(path: string, rev?: number, from?: { offset: number; md5: string }): Promise<RemoteContent>;
  /** How many bytes of the content with `md5` and `size` the server holds from an upload (all of them once it is whole). */
  uploadOffset(md5: string, size: number): Promise<number>;
  /** Sends that content's bytes from `offset` on; resolves to the offset the server then holds. A whole upload whose md5 differs is refused (422 md5_mismatch). */
  appendUpload(md5: string, size: number, offset: number, body: ReadableStream<Uint8Array>): Promise<number>;
  /** Puts content the server holds (uploaded, or in its store) into a push's stage by path; answers the paths it had none for. */
  place(request: PlaceRequest): Promise<Place>;
  restore(request: RestoreRequest): Promise<Restore>;
  verify(): Promise<Verify>;
  /** A server with a cache (Info.views): a view holding the current content of `paths`, for rsync to read; endView lets it go. */
  openView(paths: readonly string[]): Promise<ViewBegin>;
  /** Lets a view go. Never throws: the server sweeps a forgotten one after a day. */
  endView(view: string): Promise<void>;
  /** A server with a cache: the current content of `paths` as the basis of stage `stage`'s upload; answers the basis's path on the server (none for no paths). */
  pushBasis(stage: string, paths: readonly string[]): Promise<string | undefined>;
}

/** A file's bytes from GET /v1/content and the md5 the server names for them (x-soc-md5); unchecked. */
export interface RemoteContent {
  body: ReadableStream<Uint8Array>;
  /** The hex md5 the bytes should have; undefined when the server did not say. */
  md5: string | undefined;
  /** Where in the content `body` starts: the `from.offset` asked for, or 0 when the server sent it all. */
  offset: number;
  /** How many bytes `body` should hold (its Content-Length), when the server said. */
  length: number | undefined;
}

/** How long one API call may take before the server counts as unreachable (a commit streams, and may take longer). */
const TIMEOUT_MS = 120_000;

/**
 * A client for the server at `url` (http or https, any path prefix). Network failures and 401
 * throw RemoteError (exit 4), 409 throws ConflictError (exit 3), other errors SocError with
 * the server's message. The token travels only in the Authorization header.
 */
export function createClient(url: string, token: string | undefined): RemoteClient {
  const base = url.replace(/\/+$/, "");
  const send = async (
    method: "GET" | "POST" | "HEAD" | "PATCH",
    path: string,
    body?: unknown,
    opts: { accept?: string; timeoutMs?: number; signal?: AbortSignal; headers?: Record<string, string>; stream?: ReadableStream<Uint8Array> } = {},
  ): Promise<Response> => {
    const headers: Record<string, string> = { accept: opts.accept ?? "application/json", ...opts.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    if (opts.stream) headers["content-type"] = "application/octet-stream";
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: opts.stream ?? (body === undefined ? undefined : JSON.stringify(body)),
        signal: _anyOf(opts.signal, opts.timeoutMs === 0 ? undefined : AbortSignal.timeout(opts.timeoutMs ?? TIMEOUT_MS)),
        // Bun's own idle timer (5 minutes) too: a server committing a huge changeset may go quiet.
        ...(opts.timeoutMs === 0 ? { timeout: false } : {}),
      });
    } catch (err) {
      throw new RemoteError(`cannot reach the soc server at ${base}: ${(err as Error).message}`);
    }
    if (!res.ok) throw _errorFrom(res.status, _errorIn(await res.text()), base);
    return res;
  };
  const call = async <T>(method: "GET" | "POST", path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> =>
    (await (await send(method, path, body, opts)).json()) as T;
  const endView = async (view: string) => {
    try {
      await send("POST", "/v1/view/end", { view });
    } catch {
      // best effort: the server sweeps a forgotten view after a day
    }
  };
  const query = (params: Record<string, string | number | undefined>) =>
    new URLSearchParams(Object.entries(params).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]]))).toString();
  return {
    url: base,
    info: () => call<Info>("GET", "/v1/info"),
    changes: async (since) => {
      // A row changed again while paging reappears on a later page: the later copy wins.
      const files = new Map<string, FileRow>();
      let after: Changes["next"];
      for (;;) {
        const page = await call<Changes>("GET", `/v1/changes?${query({ since, afterRev: after?.rev, afterPath: after?.path })}`);
        for (const row of page.files) files.set(row.path, row);
        if (page.next === undefined) return { revision: page.revision, files: [...files.values()], roots: page.roots };
        if (after && (page.next.rev < after.rev || (page.next.rev === after.rev && comparePaths(page.next.path, after.path) <= 0))) {
          throw new RemoteError(`the soc server at ${base} sent a page of changes that does not move forward`, "bad_response");
        }
        after = page.next;
      }
    },
    waitForChange: async (since, seconds, signal) => {
      // One row at most: the answer is a signal, the pull that follows fetches the rows.
      const page = (await (await send("GET", `/v1/changes?${query({ since, wait: seconds, limit: 1 })}`, undefined, { signal })).json()) as Changes;
      return { head: page.head ?? page.revision, ...(page.database ? { database: page.database } : {}) };
    },
    beginPush: (client) => call<PushBegin>("POST", "/v1/push/begin", { client }),
    openView: async (paths) => {
      const view = await call<ViewBegin>("POST", "/v1/view/begin", {});
      try {
        // No time limit: a node fetches what its cache lacks before it answers.
        for (const batch of _pathBatches(paths)) await call<ViewPart>("POST", "/v1/view/part", { view: view.view, paths: batch }, { timeoutMs: 0 });
      } catch (error) {
        await endView(view.view); // its links go now, not in a day
        throw error;
      }
      return view;
    },
    endView,
    pushBasis: async (stage, paths) => {
      let basisPath: string | undefined;
      for (const batch of _pathBatches(paths))
        ({ basisPath } = await call<PushBasis>("POST", "/v1/push/basis", { stage, paths: batch }, { timeoutMs: 0 }));
      return basisPath;
    },
    sendPushPart: (request) => call<PushPart>("POST", "/v1/push/part", request),
    commitPush: async (request, onProgress) => {
      // No time limit: the server streams progress (a heartbeat at least) until it answers.
      const res = await send("POST", "/v1/push/commit", request, { accept: COMMIT_STREAM_TYPE, timeoutMs: 0 });
      if (!res.headers.get("content-type")?.startsWith(COMMIT_STREAM_TYPE)) return (await res.json()) as PushCommit;
      return _readCommitStream(res, base, onProgress);
    },
    abortPush: async (stage) => {
      try {
        await send("POST", "/v1/push/abort", { stage });
      } catch {
        // best effort: the server's sweep removes a forgotten stage after a day
      }
    },
    log: (q) => call<Log>("GET", `/v1/log?${query(q)}`),
    content: async (path, rev, from) => {
      const headers: Record<string, string> = from && from.offset > 0 ? { range: `bytes=${from.offset}-`, "if-range": `"${from.md5}"` } : {};
      // No time limit on the whole: a large file takes as long as it takes (Bun's idle timer still catches a dead server).
      const res = await send("GET", `/v1/content?${query({ path, rev })}`, undefined, { headers, timeoutMs: 0 });
      const offset = res.status === 206 ? Number(/^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1] ?? 0) : 0;
      const length = res.headers.get("content-length");
      return {
        body: res.body ?? new ReadableStream(),
        md5: res.headers.get("x-soc-md5") ?? undefined,
        offset,
        length: length === null ? undefined : Number(length),
      };
    },
    uploadOffset: async (md5, size) => {
      const res = await send("HEAD", `/v1/uploads/${md5}?${query({ size })}`);
      const offset = Number(res.headers.get("upload-offset"));
      if (!Number.isSafeInteger(offset))
        throw new RemoteError(`the soc server at ${base} answered an upload's offset without Upload-Offset`, "bad_response");
      return offset;
    },
    appendUpload: async (md5, size, offset, body) =>
      ((await (await send("PATCH", `/v1/uploads/${md5}?${query({ size, offset })}`, undefined, { stream: body, timeoutMs: 0 })).json()) as Upload)
        .offset,
    place: (request) => call<Place>("POST", "/v1/push/place", request),
    restore: (request) => call<Restore>("POST", "/v1/restore", request),
    verify: () => call<Verify>("POST", "/v1/verify"),
  };
}

// ---------------------------------------------------------------------------

/** A signal that aborts when any of `signals` does (undefined when none is given). */
function _anyOf(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  return given.length <= 1 ? given[0] : AbortSignal.any(given);
}

/** Reads a streamed commit: `{progress}` lines to `onProgress`, then `{result}` (returned) or `{error, status}` (thrown). */
async function _readCommitStream(res: Response, base: string, onProgress?: (p: CommitProgress) => void): Promise<PushCommit> {
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for await (const chunk of res.body ?? new ReadableStream<Uint8Array>()) {
      buffered += decoder.decode(chunk, { stream: true });
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = JSON.parse(buffered.slice(0, nl)) as {
          progress?: CommitProgress;
          result?: PushCommit;
          error?: ErrorBody["error"];
          status?: number;
        };
        buffered = buffered.slice(nl + 1);
        if (line.progress) onProgress?.(line.progress);
        if (line.result) return line.result;
        if (line.error) throw _errorFrom(line.status ?? 500, line.error, base);
      }
    }
  } catch (err) {
    if (err instanceof SocError) throw err;
    throw new RemoteError(
      `lost the soc server at ${base} while it committed (${(err as Error).message}); run \`soc push\` again: a commit that went through is not repeated`,
    );
  }
  throw new RemoteError(
    `the soc server at ${base} stopped answering while it committed; run \`soc push\` again: a commit that went through is not repeated`,
  );
}

/** The `{ error }` of an error answer's body, or undefined when it is not a soc error (a proxy's page). */
function _errorIn(text: string): ErrorBody["error"] | undefined {
  try {
    return (JSON.parse(text) as ErrorBody).error;
  } catch {
    return undefined;
  }
}

function _errorFrom(status: number, error: ErrorBody["error"] | undefined, base: string): SocError {
  if (status === 401) {
    return new RemoteError(
      `unauthorized: the soc server at ${base} refused the token (set it with \`soc init URL --token T\` or SOC_TOKEN)`,
      "unauthorized",
      401,
    );
  }
  if (status === 409 && error?.paths) return new ConflictError(error.message, error.paths);
  if (status === 413 && !error) {
    return new RemoteError(
      `a proxy in front of the soc server at ${base} refused a request as too large (HTTP 413); soc's requests stay under 1 MiB: raise the proxy's limit (nginx: client_max_body_size 1m)`,
      "too_large",
      413,
    );
  }
  if (!error)
    return new RemoteError(`the soc server at ${base} answered HTTP ${status} without a soc error (is this a soc server?)`, "bad_response", status);
  return new SocError(error.code, `server: ${error.message}`, { status });
}

/** `paths` in the requests that name them: at most VIEW_MAX_PATHS each, and about CHANGESET_PART_BYTES of JSON (quotes, comma, common escapes). */
function _pathBatches(paths: readonly string[]): string[][] {
  return inBatches(paths, VIEW_MAX_PATHS, CHANGESET_PART_BYTES, (p) => Buffer.byteLength(p) + 4);
}
