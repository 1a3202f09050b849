import { BadInputError, ConflictError, SocError } from "../shared/errors.ts";
import { ancestorPaths, checkRepoPath, comparePaths } from "../shared/paths.ts";
import type { Delete, FileRow, RootRuleBody, Upsert } from "../shared/protocol.ts";

/** The mode a path new to the table gets from a client that sends none. */
export const NEW_FILE_MODE = 0o644;

/** An upsert as the server commits it: with its content's sha256 when that goes to an object store (the server hashes it, never the client). */
export type StoredUpsert = Upsert & { sha256?: string };

/** What a push asks the table to change (PushCommitRequest without the stage). */
export interface Changeset {
  client: string;
  upserts: readonly StoredUpsert[];
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

/**
 * What a commit's decision reads from the table, inside the transaction that then writes it: the
 * same questions whatever the engine (SQLite asks them as it goes; PostgreSQL reads the answers
 * for the whole changeset first).
 */
export interface TableFacts {
  /** The head revision, read under the commit's lock. */
  current: number;
  /** The row of `path` (live or tombstone), or undefined when the table never had it. */
  row(path: string): FileRow | undefined;
  /** Of `paths` to be written, those that would sit under a live file, or over live files, not in `deleting`. */
  clashes(paths: readonly string[], deleting: ReadonlySet<string>): string[];
  /** How many live files the table holds. */
  liveFiles(): number;
  /** The kind of the root rule at `path`, or undefined. */
  rootKind(path: string): string | undefined;
}

/** What a commit writes, once planChangeset let it through. */
export interface ChangesetPlan {
  /** Paths to delete (live before this commit). */
  deletes: string[];
  /** Upserts that change their row, each with the mode it gets. */
  stores: (StoredUpsert & { mode: number })[];
  /** Live rows (before this commit) of the paths it deletes or writes over: the versions to keep. */
  replaced: FileRow[];
  /** How many root rules it sets or removes that the table does not already hold so. */
  rootChanges: number;
}

/**
 * Decides a checked changeset against the table: throws BadInputError "bad_base" when a base
 * revision is ahead of the server's (a reset server), ConflictError listing every path changed on
 * the server after its baseRev (identical content is no conflict) or whose shape clashes (a file
 * under a live file, a file over live ones), and SocError "mass_delete" (409) for a commit
 * deleting more than half of 10+ live files, or all of 2+, unless `change.allowMassDelete`.
 */
export function planChangeset(facts: TableFacts, change: Changeset): ChangesetPlan {
  const ahead = [...change.upserts, ...change.deletes].find((c) => c.baseRev > facts.current);
  if (ahead) {
    const what = `base revision ${ahead.baseRev} of ${JSON.stringify(ahead.path)}`;
    throw new BadInputError(`${what} is newer than the server's ${facts.current}; was the server reset?`, "bad_base");
  }
  const conflicts: string[] = [];
  const plan: ChangesetPlan = { deletes: [], stores: [], replaced: [], rootChanges: 0 };
  for (const d of change.deletes) {
    const row = facts.row(d.path);
    if (!row || row.deleted) continue; // gone already: no-op
    if (row.rev > d.baseRev) {
      conflicts.push(d.path);
    } else {
      plan.deletes.push(d.path);
      plan.replaced.push(row);
    }
  }
  for (const u of change.upserts) {
    const row = facts.row(u.path);
    const live = row !== undefined && !row.deleted;
    const same = live && row.md5 === u.md5 && row.link === u.link; // a file and a symlink are never the same content
    // A tombstone is no conflict for a path new to the client (baseRev 0): no content is lost.
    const tombstoneForNew = row?.deleted === true && u.baseRev === 0;
    const mode = u.mode ?? (live ? row.mode : NEW_FILE_MODE);
    if (row && row.rev > u.baseRev && !same && !tombstoneForNew) conflicts.push(u.path);
    else if (same && row.size === u.size && row.mode === mode && row.mtimeNs === u.mtimeNs) continue;
    else {
      plan.stores.push({ ...u, mode });
      if (live) plan.replaced.push(row);
    }
  }
  conflicts.push(
    ...facts.clashes(
      plan.stores.map((u) => u.path),
      new Set(plan.deletes),
    ),
  );
  if (conflicts.length > 0) {
    conflicts.sort(comparePaths);
    const list = conflicts.map((p) => JSON.stringify(p)).join(", ");
    throw new ConflictError(`changed on the server since your base: ${list}; pull first`, conflicts);
  }
  if (plan.deletes.length > 0 && !change.allowMassDelete) _checkMassDelete(facts.liveFiles(), plan.deletes.length);
  const set = change.roots.set.filter((r) => facts.rootKind(r.path) !== r.kind);
  const removed = change.roots.remove.filter((path) => facts.rootKind(path) !== undefined);
  plan.rootChanges = set.length + removed.length;
  return plan;
}

// ---------------------------------------------------------------------------

/** Refuses a commit that would empty most of the server: what a wiped or unmounted working tree pushes. */
function _checkMassDelete(live: number, deleting: number): void {
  const all = live >= 2 && deleting === live;
  if (!all && !(live >= 10 && deleting * 2 > live)) return;
  const what = all ? `all ${live} files on the server` : `${deleting} of the ${live} files on the server (more than half)`;
  throw new SocError("mass_delete", `this push would delete ${what}; pass --allow-mass-delete if that is intended`, {
    status: 409,
  });
}
