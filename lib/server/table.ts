import type { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { openDb } from "../shared/db.ts";
import { checkChangeset, type Changeset } from "./commit.ts";
import { BadInputError, ConflictError, SocError } from "../shared/errors.ts";
import { ancestorPaths, comparePaths } from "../shared/paths.ts";
import type { Changes, FileRow, PushCommit, RootRuleBody, Upsert } from "../shared/protocol.ts";
import { writeRevision } from "./revision.ts";
import { SERVER_MIGRATIONS } from "./schema.ts";

/** The server's authoritative state: file rows (with tombstones), revisions and root rules. */
export interface Table extends Disposable {
  readonly db: Database;
  close(): void;
}

// Re-exported: callers of the table check and commit changesets through this module.
export { checkChangeset, type Changeset };

/** The file-system half of a commit, handed to `apply` inside the transaction. */
export interface CommitPlan {
  rev: number;
  /** Paths to unlink from the store (live before this commit). */
  deletes: string[];
  /** Upserts whose staged file must be moved into the store. */
  stores: Upsert[];
  /** Live rows (before this commit) of the paths it deletes or writes over: the versions to keep. */
  replaced: FileRow[];
}

// mtime_ns is read back as TEXT so the 64-bit value survives exactly (a JS number would round it).
const ROW_COLUMNS = `path, size, md5, mode, CAST(mtime_ns AS TEXT) AS mtimeNs, rev, deleted`;

/** Opens (creating it, its directory, and migrating) the server database at `file`; close or `using` it. */
export function openTable(file: string): Table {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = openDb(file, SERVER_MIGRATIONS);
  return { db, close: () => db.close(), [Symbol.dispose]: () => db.close() };
}

/** The latest revision number; 0 before the first push. */
export function currentRevision(table: Table): number {
  const row = table.db.query("SELECT COALESCE(MAX(rev), 0) AS rev FROM revisions").get() as { rev: number };
  return row.rev;
}

/** Rows changed after revision `since` (tombstones included, by path) and every root rule. */
export function changesSince(table: Table, since: number): Changes {
  return table.db.transaction(() => {
    const rows = table.db.query(`SELECT ${ROW_COLUMNS} FROM files WHERE rev > $since ORDER BY path`).all({ since });
    const roots = table.db.query("SELECT path, kind FROM roots ORDER BY path").all() as RootRuleBody[];
    return { revision: currentRevision(table), files: rows.map(_toFileRow), roots };
  })();
}

/** The row for `path` (live or tombstone), or undefined when the server never had it. */
export function readRow(table: Table, path: string): FileRow | undefined {
  const row = table.db.query(`SELECT ${ROW_COLUMNS} FROM files WHERE path = $path`).get({ path });
  return row ? _toFileRow(row) : undefined;
}

/**
 * Commits a changeset atomically (see DESIGN.md "Push"): throws ConflictError listing every
 * path changed on the server after its baseRev (identical content is no conflict), else writes
 * revision+1 and calls `apply(plan)` inside the transaction (a throw rolls the rows back).
 * Throws SocError "mass_delete" (409) for a commit deleting more than half of 10+ live files,
 * or all of 2+, unless `change.allowMassDelete`. Replaced files are recorded as versions unless
 * `keepVersions` is false. A changeset that changes nothing returns the current revision.
 */
export function commitChangeset(
  table: Table,
  change: Changeset,
  opts: { nowMs: number; apply?: (plan: CommitPlan) => void; keepVersions?: boolean },
): PushCommit {
  checkChangeset(change);
  const { db } = table;
  return db
    .transaction(() => {
      const current = currentRevision(table);
      const ahead = [...change.upserts, ...change.deletes].find((c) => c.baseRev > current);
      if (ahead) {
        const what = `base revision ${ahead.baseRev} of ${JSON.stringify(ahead.path)}`;
        throw new BadInputError(`${what} is newer than the server's ${current}; was the server reset?`, "bad_base");
      }
      const plan = _plan(table, change);
      if (plan.conflicts.length > 0) {
        plan.conflicts.sort(comparePaths);
        const list = plan.conflicts.map((p) => JSON.stringify(p)).join(", ");
        throw new ConflictError(`changed on the server since your base: ${list}; pull first`, plan.conflicts);
      }
      if (!change.allowMassDelete) _checkMassDelete(table, plan.deletes.length);
      const rootChanges = _rootChanges(table, change);
      if (plan.stores.length === 0 && plan.deletes.length === 0 && rootChanges === 0) {
        return { revision: current, stored: [], deleted: [] };
      }
      const rev = current + 1;
      const { stores, deletes, replaced } = plan;
      const keepVersions = opts.keepVersions ?? true;
      writeRevision(db, { rev, nowMs: opts.nowMs, client: change.client, writes: stores, deletes, replaced, keepVersions });
      const setRoot = db.query("INSERT INTO roots (path, kind) VALUES ($path, $kind) ON CONFLICT (path) DO UPDATE SET kind = $kind");
      for (const r of change.roots.set) setRoot.run({ path: r.path, kind: r.kind });
      for (const path of change.roots.remove) db.query("DELETE FROM roots WHERE path = $path").run({ path });
      opts.apply?.({ rev, deletes, stores, replaced });
      return { revision: rev, stored: plan.stores.map((u) => u.path), deleted: plan.deletes };
    })
    .immediate();
}

/** Of `paths` to be written, those that would sit under a live file, or over live files, not in `deleting`. */
export function shapeClashes(table: Table, paths: readonly string[], deleting: ReadonlySet<string> = new Set()): string[] {
  const liveFile = table.db.query("SELECT 1 FROM files WHERE path = $path AND deleted = 0");
  const liveBelow = table.db.query("SELECT path FROM files WHERE path > $lo AND path < $hi AND deleted = 0");
  const clashes: string[] = [];
  for (const path of paths) {
    const fileAbove = ancestorPaths(path).some((a) => !deleting.has(a) && liveFile.get({ path: a }) !== null);
    const below = liveBelow.all({ lo: `${path}/`, hi: `${path}0` }) as { path: string }[];
    if (fileAbove || below.some((r) => !deleting.has(r.path))) clashes.push(path);
  }
  return clashes;
}

// ---------------------------------------------------------------------------

type _Plan = Omit<CommitPlan, "rev"> & { conflicts: string[] };

function _plan(table: Table, change: Changeset): _Plan {
  const plan: _Plan = { conflicts: [], deletes: [], stores: [], replaced: [] };
  for (const d of change.deletes) {
    const row = readRow(table, d.path);
    if (!row || row.deleted) continue; // gone already: no-op
    if (row.rev > d.baseRev) {
      plan.conflicts.push(d.path);
    } else {
      plan.deletes.push(d.path);
      plan.replaced.push(row);
    }
  }
  for (const u of change.upserts) {
    const row = readRow(table, u.path);
    const live = row !== undefined && !row.deleted;
    const same = live && row.md5 === u.md5;
    // A tombstone is no conflict for a path new to the client (baseRev 0): no content is lost.
    const tombstoneForNew = row?.deleted === true && u.baseRev === 0;
    if (row && row.rev > u.baseRev && !same && !tombstoneForNew) plan.conflicts.push(u.path);
    else if (same && row.size === u.size && row.mode === u.mode && row.mtimeNs === u.mtimeNs) continue;
    else {
      plan.stores.push(u);
      if (live) plan.replaced.push(row);
    }
  }
  plan.conflicts.push(
    ...shapeClashes(
      table,
      plan.stores.map((u) => u.path),
      new Set(plan.deletes),
    ),
  );
  return plan;
}

/** Refuses a commit that would empty most of the server: what a wiped or unmounted working tree pushes. */
function _checkMassDelete(table: Table, deleting: number): void {
  const { live } = table.db.query("SELECT COUNT(*) AS live FROM files WHERE deleted = 0").get() as { live: number };
  const all = live >= 2 && deleting === live;
  if (!all && !(live >= 10 && deleting * 2 > live)) return;
  const what = all ? `all ${live} files on the server` : `${deleting} of the ${live} files on the server (more than half)`;
  throw new SocError("mass_delete", `this push would delete ${what}; pass --allow-mass-delete if that is intended`, {
    status: 409,
  });
}

function _rootChanges(table: Table, change: Changeset): number {
  const kindOf = table.db.query("SELECT kind FROM roots WHERE path = $path");
  const set = change.roots.set.filter((r) => (kindOf.get({ path: r.path }) as { kind: string } | null)?.kind !== r.kind);
  const removed = change.roots.remove.filter((path) => kindOf.get({ path }) !== null);
  return set.length + removed.length;
}

function _toFileRow(raw: unknown): FileRow {
  const r = raw as Omit<FileRow, "deleted"> & { deleted: number };
  return { path: r.path, size: r.size, md5: r.md5, mode: r.mode, mtimeNs: r.mtimeNs, rev: r.rev, deleted: r.deleted !== 0 };
}
