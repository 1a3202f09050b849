import { BadInputError } from "../shared/errors.ts";
import { ancestorPaths, checkRepoPath } from "../shared/paths.ts";
import type { Delete, RootRuleBody, Upsert } from "../shared/protocol.ts";

/** What a push asks the table to change (PushCommitRequest without the stage). */
export interface Changeset {
  client: string;
  upserts: readonly Upsert[];
  deletes: readonly Delete[];
  roots: { set: readonly RootRuleBody[]; remove: readonly string[] };
  /** Lets through a commit that deletes more than half of the live files (or all of them). */
  allowMassDelete?: boolean;
}

const INT64_MAX = 2n ** 63n - 1n;

/**
 * Checks a changeset without touching state: every path valid (BadInputError naming it),
 * no path twice, no upsert inside another upserted path, mtimes that fit 64 bits.
 */
export function checkChangeset(change: Changeset): void {
  const seen = new Set<string>();
  for (const { path } of [...change.upserts, ...change.deletes]) {
    checkRepoPath(path);
    if (seen.has(path)) throw new BadInputError(`path ${JSON.stringify(path)} appears twice in the changeset`);
    seen.add(path);
  }
  const upserted = new Set(change.upserts.map((u) => u.path));
  for (const u of change.upserts) {
    if (BigInt(u.mtimeNs) > INT64_MAX) throw new BadInputError(`mtimeNs of ${JSON.stringify(u.path)} is out of range`);
    const above = ancestorPaths(u.path).find((a) => upserted.has(a));
    if (above !== undefined) throw new BadInputError(`${JSON.stringify(u.path)} is inside upserted file ${JSON.stringify(above)}`);
  }
  const rootPaths = new Set<string>();
  for (const path of [...change.roots.set.map((r) => r.path), ...change.roots.remove]) {
    if (path !== "") checkRepoPath(path);
    if (rootPaths.has(path)) throw new BadInputError(`root ${JSON.stringify(path)} appears twice in the changeset`);
    rootPaths.add(path);
  }
}
