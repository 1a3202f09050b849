import { Elysia } from "elysia";
import { DEFAULT_KEEP_DAYS } from "../lib/server/config.ts";
import { PushBegin, PushBeginRequest, PushCommit, PushCommitRequest } from "../lib/shared/protocol.ts";
import { applyToStore, createStage, removeStage, repairFromStage, verifyStage, type Store } from "../lib/server/store.ts";
import { checkChangeset, commitChangeset, readRow, type CommitPlan, type Table } from "../lib/server/table.ts";
import { createSweeper, keepVersions } from "../lib/server/versions.ts";

/** POST /v1/push/begin (a fresh stage) and /v1/push/commit (check, then apply atomically). */
export function pushRoutes(deps: {
  table: Table;
  store: Store;
  now: () => number;
  /** Days replaced files are kept as versions; 0 keeps none. */
  keepDays?: number;
  onInternalError?: (error: unknown) => void;
}) {
  const keepDays = deps.keepDays ?? DEFAULT_KEEP_DAYS;
  const sweep = createSweeper(deps.table, deps.store, { keepDays, now: deps.now });
  return new Elysia({ prefix: "/v1/push" })
    .post(
      "/begin",
      (): PushBegin => {
        const stage = createStage(deps.store, deps.now());
        return { stage: stage.id, stagePath: stage.path };
      },
      { body: PushBeginRequest, response: PushBegin },
    )
    .post(
      "/commit",
      async ({ body }): Promise<PushCommit> => {
        checkChangeset(body);
        await verifyStage(deps.store, body.stage, body.upserts);
        // No await from here on: the conflict check and the apply run as one synchronous
        // step, so concurrent commits serialize.
        const apply = (plan: CommitPlan) => {
          if (keepDays > 0) keepVersions(deps.store, plan.replaced);
          applyToStore(deps.store, body.stage, plan);
        };
        const result = commitChangeset(deps.table, body, { nowMs: deps.now(), apply, keepVersions: keepDays > 0 });
        if (body.repair) {
          const stored = new Set(result.stored);
          const md5Of = new Map(body.upserts.filter((u) => !stored.has(u.path)).map((u) => [u.path, u.md5]));
          const unchanged = body.upserts.filter((u) => md5Of.has(u.path));
          repairFromStage(deps.store, body.stage, unchanged, (path) => {
            const row = readRow(deps.table, path);
            return row !== undefined && !row.deleted && row.md5 === md5Of.get(path);
          });
        }
        removeStage(deps.store, body.stage);
        try {
          sweep();
        } catch (error) {
          deps.onInternalError?.(error); // the commit stands; the timer sweeps again
        }
        return result;
      },
      { body: PushCommitRequest, response: PushCommit },
    );
}
