import { Elysia } from "elysia";
import { Info } from "../lib/shared/protocol.ts";
import { API_VERSION } from "../lib/shared/wire.ts";
import type { Store } from "../lib/server/store.ts";
import type { TablePort } from "../lib/server/table-port.ts";

/** GET /v1/info: server version, API version, revision, database id, transports and store path. */
export function infoRoutes(deps: { table: TablePort; store: Store; version: string }) {
  return new Elysia({ prefix: "/v1" }).get(
    "/info",
    async (): Promise<Info> => ({
      server: deps.version,
      api: API_VERSION,
      revision: await deps.table.head(),
      database: deps.table.id,
      transports: ["local", "tunnel", "ssh", "http"],
      store: deps.store.root,
      ...(deps.store.cache ? { views: true } : {}),
    }),
    { response: Info },
  );
}
