import { ConflictError, SocError } from "../../lib/shared/errors.ts";
import type { Changeset } from "../../lib/server/changeset-plan.ts";
import { commitChangeset, type Table } from "../../lib/server/table.ts";

/** A changeset from client "laptop" that changes only what `over` says. */
export function changeset(over: Partial<Changeset>): Changeset {
  return { client: "laptop", upserts: [], deletes: [], roots: { set: [], remove: [] }, ...over };
}

/** The outcome of a commit: what it returned, or the error's code (and a conflict's paths). */
export async function commitOutcome(run: () => unknown): Promise<unknown> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ConflictError) return { conflict: error.paths };
    if (error instanceof SocError) return { error: error.code };
    throw error;
  }
}

/** Commits changeset(`over`) to `table` alone (no store work) at `nowMs`, 1000 unless given. */
export function commit(table: Table, over: Partial<Changeset>, opts: { nowMs?: number; keepVersions?: boolean } = {}) {
  return commitChangeset(table, changeset(over), { nowMs: 1000, ...opts });
}
