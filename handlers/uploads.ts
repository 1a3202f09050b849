import { Elysia } from "elysia";
import type { Store } from "../lib/server/store.ts";
import type { TablePort } from "../lib/server/table-port.ts";
import { appendUpload, placeInStage, sweepUploads, uploadOffset } from "../lib/server/uploads.ts";
import { Place, PlaceRequest, Upload, UploadParams, UploadQuery } from "../lib/shared/protocol.ts";
import { SocError } from "../lib/shared/errors.ts";
import { MAX_BODY_BYTES } from "../lib/shared/wire.ts";

/** The path prefix of the upload routes: their bodies stream, of any size (server.ts lets them past the body limit). */
export const UPLOADS_PREFIX = "/v1/uploads/";

/**
 * The http transport's routes (lib/server/uploads.ts): HEAD /v1/uploads/{md5}?size=N answers how
 * many bytes of that content the server holds (`Upload-Offset`), PATCH appends from `offset`
 * (the body streams to disk; a whole upload's md5 is checked, 422 when it differs), and POST
 * /v1/push/place puts content into a push's stage by path, saying which paths it had none for.
 */
export function uploadRoutes(deps: { store: Store; table: TablePort }) {
  return new Elysia()
    .head(
      `${UPLOADS_PREFIX}:md5`,
      ({ params, query }) =>
        new Response(null, { headers: { "upload-offset": String(uploadOffset(deps.store, { md5: params.md5, size: query.size })) } }),
      { params: UploadParams, query: UploadQuery },
    )
    .patch(
      `${UPLOADS_PREFIX}:md5`,
      async ({ params, query, request, server }): Promise<Upload> => {
        server?.timeout(request, 0); // a large body takes as long as it takes
        const offset = await appendUpload(deps.store, { md5: params.md5, size: query.size }, query.offset ?? 0, request.body);
        return { offset };
      },
      { params: UploadParams, query: UploadQuery, response: Upload, parse: "none" },
    )
    .post(
      "/v1/push/place",
      async ({ body }): Promise<Place> => {
        sweepUploads(deps.store);
        return { missing: await placeInStage(deps.store, deps.table, body.stage, body.files, body.fromStore) };
      },
      { body: PlaceRequest, response: Place },
    );
}

/**
 * `request` with a body that errors past MAX_BODY_BYTES when it streams without a Content-Length
 * and is no upload: Bun.serve lets bodies of any size through, for the uploads, and every other
 * route reads its body whole (after the request guard, so nothing is read for a stranger).
 */
export function boundedBody(request: Request): Request {
  if (request.body === null || request.headers.get("content-length") !== null || new URL(request.url).pathname.startsWith(UPLOADS_PREFIX)) {
    return request;
  }
  let size = 0;
  const bounded = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        size += chunk.byteLength;
        if (size > MAX_BODY_BYTES) out.error(new SocError("too_large", `request body over ${MAX_BODY_BYTES} bytes`, { status: 413 }));
        else out.enqueue(chunk);
      },
    }),
  );
  return new Request(request, { body: bounded, duplex: "half" } as RequestInit);
}
