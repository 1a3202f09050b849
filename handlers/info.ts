import { Elysia } from "elysia";
import { Info } from "../lib/shared/protocol.ts";
import { API_VERSION } from "../lib/shared/wire.ts";
import type { Store } from "../lib/server/store.ts";
import { currentRevision, databaseId, type Table } from "../lib/server/table.ts";

/** GET /v1/info: server version, API version, revision, database id, transports and store path. */
export function infoRoutes(deps: { table: Table; store: Store; version: string }) {
  return new Elysia({ prefix: "/v1" }).get(
    "/info",
    (): Info => ({
      server: deps.version,
      api: API_VERSION,
      revision: currentRevision(deps.table),
      database: databaseId(deps.table),
      transports: ["local", "tunnel", "ssh", "http"],
      store: deps.store.root,
    }),
    { response: Info },
  );
}
