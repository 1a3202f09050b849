import { Elysia } from "elysia";
import { BadInputError } from "../lib/shared/errors.ts";
import { Changes, ChangesQuery } from "../lib/shared/protocol.ts";
import { MAX_WAIT_SECONDS, type Announcer } from "../lib/server/announcer.ts";
import type { TablePort } from "../lib/server/table-port.ts";

/**
 * GET /v1/changes?since=N: a page of the rows changed after revision N (tombstones included) and
 * all roots; `next` says where the following page starts. With `wait=S` (a long poll, S ≤ 25)
 * and nothing after N yet, the answer waits until a revision lands or S seconds pass, then comes
 * as usual, with the head and the database id: a lost answer loses nothing, since the next one carries the head again.
 */
export function changesRoutes(deps: { table: TablePort; announcer: Announcer }) {
  const database = deps.table.id;
  return new Elysia({ prefix: "/v1" }).get(
    "/changes",
    async ({ query, request, server }): Promise<Changes> => {
      for (const [name, what] of [
        ["since", "revision number"],
        ["afterRev", "revision number"],
        ["limit", "number"],
        ["wait", "number of seconds"],
      ] as const) {
        const value = query[name];
        if (value !== undefined && !Number.isSafeInteger(value)) throw new BadInputError(`${name} must be a whole ${what}`);
      }
      const page = () => deps.table.changesSince(query.since, { afterRev: query.afterRev, afterPath: query.afterPath, limit: query.limit });
      if (query.wait === undefined) return page();
      if (query.wait > MAX_WAIT_SECONDS) throw new BadInputError(`wait must be at most ${MAX_WAIT_SECONDS} seconds`);
      // Bun.serve cuts a response still unanswered after its idle timeout (10 s): not this one.
      server?.timeout(request, 0);
      await deps.announcer.waitPast(query.since, query.wait * 1000, request.signal);
      return { ...(await page()), database, head: await deps.table.head() };
    },
    { query: ChangesQuery, response: Changes },
  );
}
