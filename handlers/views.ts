import { mkdirSync } from "node:fs";
import { Elysia, t } from "elysia";
import type { BlobCache } from "../lib/server/blob-cache.ts";
import { basisPath, stageDir } from "../lib/server/stage.ts";
import type { Store } from "../lib/server/store.ts";
import type { TablePort } from "../lib/server/table-port.ts";
import { closeView, linkContent, openView, viewDir } from "../lib/server/views.ts";
import { SocError } from "../lib/shared/errors.ts";
import { PushBasis, PushBasisRequest, ViewBegin, ViewEndRequest, ViewPart, ViewPartRequest } from "../lib/shared/protocol.ts";

/**
 * A node with a cache (--cache): POST /v1/view/begin, /part and /end (a pull's view: links to the
 * content it downloads, which its rsync reads) and /v1/push/basis (a push's basis, its rsync's
 * --copy-dest). A server without a cache answers them 409 "no_views": rsync reads its store.
 */
export function viewRoutes(deps: { store: Store; table: TablePort; cache?: BlobCache; now: () => number }) {
  const cache = (): BlobCache => {
    if (deps.cache) return deps.cache;
    throw new SocError("no_views", "this server keeps its whole tree in its store: rsync reads it there (GET /v1/info's store)", { status: 409 });
  };
  return new Elysia({ prefix: "/v1" })
    .post(
      "/view/begin",
      (): ViewBegin => {
        cache(); // before anything is made
        const view = openView(deps.store, deps.now());
        return { view: view.id, viewPath: view.path };
      },
      { response: ViewBegin },
    )
    .post(
      "/view/part",
      async ({ body }): Promise<ViewPart> => ({ linked: await linkContent(deps.table, cache(), viewDir(deps.store, body.view), body.paths) }),
      { body: ViewPartRequest, response: ViewPart },
    )
    .post(
      "/view/end",
      ({ body }) => {
        closeView(deps.store, body.view);
        return { ended: true };
      },
      { body: ViewEndRequest, response: t.Object({ ended: t.Boolean() }) },
    )
    .post(
      "/push/basis",
      async ({ body }): Promise<PushBasis> => {
        const from = cache();
        stageDir(deps.store, body.stage); // the stage's node, and that it exists
        const basis = basisPath(deps.store, body.stage);
        mkdirSync(basis, { recursive: true, mode: 0o700 });
        return { basisPath: basis, linked: await linkContent(deps.table, from, basis, body.paths) };
      },
      { body: PushBasisRequest, response: PushBasis },
    );
}
