import { Elysia } from "elysia";
import { commitPush } from "../lib/server/commit.ts";
import { DEFAULT_KEEP_DAYS } from "../lib/server/config.ts";
import type { Failpoint } from "../lib/server/failpoint.ts";
import { createStage } from "../lib/server/stage.ts";
import type { Store } from "../lib/server/store.ts";
import type { Table } from "../lib/server/table.ts";
import { createSweeper } from "../lib/server/versions.ts";
import { PushBegin, PushBeginRequest, PushCommit, PushCommitRequest } from "../lib/shared/protocol.ts";

/** POST /v1/push/begin (a fresh stage) and /v1/push/commit (check, verify, commit the rows, move the files). */
export function pushRoutes(deps: {
  table: Table;
  store: Store;
  now: () => number;
  /** Days replaced files are kept as versions; 0 keeps none. */
  keepDays?: number;
  onInternalError?: (error: unknown) => void;
  log?: (line: string) => void;
  failpoint?: Failpoint;
}) {
  const keepDays = deps.keepDays ?? DEFAULT_KEEP_DAYS;
  const commit = { ...deps, keepDays, sweep: createSweeper(deps.table, deps.store, { keepDays, now: deps.now }) };
  return new Elysia({ prefix: "/v1/push" })
    .post(
      "/begin",
      (): PushBegin => {
        const stage = createStage(deps.store, deps.now());
        return { stage: stage.id, stagePath: stage.path };
      },
      { body: PushBeginRequest, response: PushBegin },
    )
    .post("/commit", ({ body }): Promise<PushCommit> => commitPush(commit, body), { body: PushCommitRequest, response: PushCommit });
}
