import { Elysia } from "elysia";
import { DEFAULT_KEEP_DAYS } from "../lib/server/config.ts";
import { BadInputError, NotFoundError, SocError } from "../lib/shared/errors.ts";
import { findContent, type ContentAt } from "../lib/server/history.ts";
import type { BlobStore } from "../lib/server/s3-blobs.ts";
import type { BlobCache } from "../lib/server/blob-cache.ts";
import { ContentQuery, Log, LogQuery, Restore, RestoreRequest, Verify } from "../lib/shared/protocol.ts";
import { restorePaths } from "../lib/server/restore.ts";
import type { JournalDeps } from "../lib/server/journal.ts";
import { withJournal, type JournalGate } from "../lib/server/journal-gate.ts";
import { verifyStore } from "../lib/server/store-verify.ts";
import { requestedRange } from "../lib/server/range.ts";

/** GET /v1/log and /v1/content, POST /v1/restore and /v1/verify: the server's history and its checks. */
export function historyRoutes(
  deps: JournalDeps & { now: () => number; keepDays?: number; gate: JournalGate; announce?: () => void; cache?: BlobCache },
) {
  const keepVersions = (deps.keepDays ?? DEFAULT_KEEP_DAYS) > 0;
  return (
    new Elysia({ prefix: "/v1" })
      .get("/log", ({ query }): Promise<Log> => deps.table.readLog({ path: query.path, limit: _whole("limit", query.limit) }), {
        query: LogQuery,
        response: Log,
      })
      .get(
        "/content",
        async ({ query, request }) => {
          const content = await findContent(deps.table, deps.store, query.path, _whole("rev", query.rev));
          if (content.link !== undefined) {
            // Never read through: its target is all there is, and it travels in the row.
            const what = `${JSON.stringify(query.path)} is a symlink to ${JSON.stringify(content.link)} at revision ${content.rev}`;
            throw new SocError("is_symlink", `${what}; it has no bytes to send`, { status: 409 });
          }
          const bytes = content.file === undefined ? await _blobBytes(deps.blobs, content) : Bun.file(content.file);
          const size = bytes.size;
          const etag = `"${content.md5}"`;
          const headers = {
            "content-type": "application/octet-stream",
            "x-soc-rev": String(content.rev),
            "x-soc-md5": content.md5,
            etag,
            "accept-ranges": "bytes",
          };
          // A download broken off resumes where it stopped (the http transport): one range, if the content is still the same.
          const range = requestedRange(request.headers.get("range"), request.headers.get("if-range"), etag, size);
          if (range === "unsatisfiable") return new Response(null, { status: 416, headers: { ...headers, "content-range": `bytes */${size}` } });
          if (range === undefined) return new Response(bytes.slice(0, size), { headers: { ...headers, "content-length": String(size) } });
          const length = range.end - range.start + 1;
          return new Response(bytes.slice(range.start, range.end + 1), {
            status: 206,
            headers: { ...headers, "content-length": String(length), "content-range": `bytes ${range.start}-${range.end}/${size}` },
          });
        },
        {
          query: ContentQuery,
          detail: {
            responses: {
              200: {
                description: "The file's bytes; x-soc-rev and x-soc-md5 name the revision and digest (the ETag is the md5)",
                content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
              },
            },
          },
        },
      )
      // One journal run at a time: a restore commits and moves its files once no push commit holds the journal.
      .post(
        "/restore",
        async ({ body }): Promise<Restore> => {
          const restored = await withJournal(deps.gate, () => restorePaths(deps, body, { nowMs: deps.now(), keepVersions }));
          deps.announce?.();
          return restored;
        },
        { body: RestoreRequest, response: Restore },
      )
      .post(
        "/verify",
        (): Promise<Verify> =>
          verifyStore(deps.table, deps.store, deps.blobs && deps.cache ? { blobs: deps.blobs, cache: deps.cache, log: deps.log } : undefined),
        { response: Verify },
      )
  );
}

// ---------------------------------------------------------------------------

function _whole(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && !Number.isSafeInteger(value)) throw new BadInputError(`${name} must be a whole number`);
  return value;
}

/** Old content a node of a cluster reads from its blob, streamed by ranged GETs: its size, and the bytes `start` up to `end` (exclusive) as a Response body. */
async function _blobBytes(
  blobs: BlobStore | undefined,
  content: ContentAt,
): Promise<{ size: number; slice(start: number, end: number): ReadableStream<Uint8Array> | null }> {
  const { sha256, size } = content;
  if (!blobs || sha256 === undefined || !(await blobs.has(sha256))) {
    throw new NotFoundError(`the content of ${JSON.stringify(content.path)} written at revision ${content.rev} is missing from the object store`);
  }
  // S3 reads `end` inclusively; an empty content has no byte to ask for.
  return { size, slice: (start, end) => (end > start ? blobs.read(sha256, start, end - 1) : null) };
}
