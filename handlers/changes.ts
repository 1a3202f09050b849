import { Elysia } from "elysia";
import { BadInputError } from "../lib/shared/errors.ts";
import { Changes, ChangesQuery } from "../lib/shared/protocol.ts";
import { changesSince, type Table } from "../lib/server/table.ts";

/** GET /v1/changes?since=N: rows changed after revision N (tombstones included) and all roots. */
export function changesRoutes(deps: { table: Table }) {
  return new Elysia({ prefix: "/v1" }).get(
    "/changes",
    ({ query }): Changes => {
      if (!Number.isSafeInteger(query.since)) throw new BadInputError("since must be a whole revision number");
      return changesSince(deps.table, query.since);
    },
    { query: ChangesQuery, response: Changes },
  );
}
