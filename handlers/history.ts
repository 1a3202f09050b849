import { Elysia } from "elysia";
import { DEFAULT_KEEP_DAYS } from "../lib/server/config.ts";
import { BadInputError } from "../lib/shared/errors.ts";
import { findContent, readLog } from "../lib/server/history.ts";
import { ContentQuery, Log, LogQuery, Restore, RestoreRequest, Verify } from "../lib/shared/protocol.ts";
import { restorePaths } from "../lib/server/restore.ts";
import type { JournalDeps } from "../lib/server/journal.ts";
import { withJournal, type JournalGate } from "../lib/server/journal-gate.ts";
import { verifyStore } from "../lib/server/store-verify.ts";

/** GET /v1/log and /v1/content, POST /v1/restore and /v1/verify: the server's history and its checks. */
export function historyRoutes(deps: JournalDeps & { now: () => number; keepDays?: number; gate: JournalGate; announce?: () => void }) {
  const keepVersions = (deps.keepDays ?? DEFAULT_KEEP_DAYS) > 0;
  return (
    new Elysia({ prefix: "/v1" })
      .get("/log", ({ query }): Log => readLog(deps.table, { path: query.path, limit: _whole("limit", query.limit) }), {
        query: LogQuery,
        response: Log,
      })
      .get(
        "/content",
        ({ query }) => {
          const content = findContent(deps.table, deps.store, query.path, _whole("rev", query.rev));
          const file = Bun.file(content.file);
          const headers = {
            "content-type": "application/octet-stream",
            "content-length": String(file.size),
            "x-soc-rev": String(content.rev),
            "x-soc-md5": content.md5,
          };
          return new Response(file, { headers });
        },
        {
          query: ContentQuery,
          detail: {
            responses: {
              200: {
                description: "The file's bytes; x-soc-rev and x-soc-md5 name the revision and digest",
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
      .post("/verify", (): Promise<Verify> => verifyStore(deps.table, deps.store), { response: Verify })
  );
}

// ---------------------------------------------------------------------------

function _whole(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && !Number.isSafeInteger(value)) throw new BadInputError(`${name} must be a whole number`);
  return value;
}
