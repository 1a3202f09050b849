import { Elysia } from "elysia";
import { PushBeginRequest, PushCommitRequest, type PushBegin, type PushCommit } from "../lib/protocol.ts";
import { applyToStore, createStage, removeStage, verifyStage, type Store } from "../lib/store.ts";
import { checkChangeset, commitChangeset, type Table } from "../lib/table.ts";

/** POST /v1/push/begin (a fresh stage) and /v1/push/commit (check, then apply atomically). */
export function pushRoutes(deps: { table: Table; store: Store; now: () => number }) {
  return new Elysia({ prefix: "/v1/push" })
    .post(
      "/begin",
      (): PushBegin => {
        const stage = createStage(deps.store, deps.now());
        return { stage: stage.id, stagePath: stage.path };
      },
      { body: PushBeginRequest },
    )
    .post(
      "/commit",
      async ({ body }): Promise<PushCommit> => {
        checkChangeset(body);
        await verifyStage(deps.store, body.stage, body.upserts);
        // No await from here on: the conflict check and the apply run as one synchronous
        // step, so concurrent commits serialize.
        const apply = (plan: Parameters<typeof applyToStore>[2]) => applyToStore(deps.store, body.stage, plan);
        const result = commitChangeset(deps.table, body, { nowMs: deps.now(), apply });
        removeStage(deps.store, body.stage);
        return result;
      },
      { body: PushCommitRequest },
    );
}
