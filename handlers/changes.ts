import { Elysia } from "elysia";
import { BadInputError } from "../lib/shared/errors.ts";
import { Changes, ChangesQuery } from "../lib/shared/protocol.ts";
import { changesSince, type Table } from "../lib/server/table.ts";

/** GET /v1/changes?since=N: a page of the rows changed after revision N (tombstones included) and all roots; `next` says where the following page starts. */
export function changesRoutes(deps: { table: Table }) {
  return new Elysia({ prefix: "/v1" }).get(
    "/changes",
    ({ query }): Changes => {
      for (const [name, what] of [
        ["since", "revision number"],
        ["afterRev", "revision number"],
        ["limit", "number"],
      ] as const) {
        const value = query[name];
        if (value !== undefined && !Number.isSafeInteger(value)) throw new BadInputError(`${name} must be a whole ${what}`);
      }
      return changesSince(deps.table, query.since, { afterRev: query.afterRev, afterPath: query.afterPath, limit: query.limit });
    },
    { query: ChangesQuery, response: Changes },
  );
}
