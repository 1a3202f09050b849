import type { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { openDb, type Migration } from "./db.ts";
import { BadInputError, ConflictError } from "./errors.ts";
import { checkRepoPath, comparePaths } from "./paths.ts";
import type { Changes, Delete, FileRow, PushCommit, RootRuleBody, Upsert } from "./protocol.ts";

/** The server's authoritative state: file rows (with tombstones), revisions and root rules. */
export interface Table extends Disposable {
  readonly db: Database;
  close(): void;
}

/** What a push asks the table to change (PushCommitRequest without the stage). */
export interface Changeset {
  client: string;
  upserts: readonly Upsert[];
  deletes: readonly Delete[];
  roots: { set: readonly RootRuleBody[]; remove: readonly string[] };
}

/** The file-system half of a commit, handed to `apply` inside the transaction. */
export interface CommitPlan {
  rev: number;
  /** Paths to unlink from the store (live before this commit). */
  deletes: string[];
  /** Upserts whose staged file must be moved into the store. */
  stores: Upsert[];
}

const INT64_MAX = 2n ** 63n - 1n;

const MIGRATIONS: Migration[] = [
  `CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, md5 TEXT NOT NULL,
     mode INTEGER NOT NULL, rev INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
   CREATE INDEX files_rev ON files (rev);
   CREATE TABLE revisions (rev INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, client TEXT NOT NULL,
     added INTEGER NOT NULL, modified INTEGER NOT NULL, deleted INTEGER NOT NULL);
   CREATE TABLE roots (path TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'exclude'))) WITHOUT ROWID;`,
];

// mtime_ns is read back as TEXT so the 64-bit value survives exactly (a JS number would round it).
const ROW_COLUMNS = `path, size, md5, mode, CAST(mtime_ns AS TEXT) AS mtimeNs, rev, deleted`;

/** Opens (creating it, its directory, and migrating) the server database at `file`; close or `using` it. */
export function openTable(file: string): Table {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = openDb(file, MIGRATIONS);
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
    const above = _ancestors(u.path).find((a) => upserted.has(a));
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
 * Commits a changeset atomically (see DESIGN.md "Push"): throws ConflictError listing every
 * path changed on the server after its baseRev (identical content is no conflict), else writes
 * revision+1 and calls `apply(plan)` inside the transaction (a throw rolls the rows back).
 * A changeset that changes nothing returns the current revision and makes none.
 */
export function commitChangeset(
  table: Table,
  change: Changeset,
  opts: { nowMs: number; apply?: (plan: CommitPlan) => void },
): PushCommit {
  checkChangeset(change);
  const { db } = table;
  return db.transaction(() => {
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
    const rootChanges = _rootChanges(table, change);
    if (plan.stores.length === 0 && plan.deletes.length === 0 && rootChanges === 0) {
      return { revision: current, stored: [], deleted: [] };
    }
    const rev = current + 1;
    const tombstone = db.query(`UPDATE files SET deleted = 1, size = 0, md5 = '', mtime_ns = 0, rev = $rev WHERE path = $path`);
    for (const path of plan.deletes) tombstone.run({ rev, path });
    const upsert = db.query(`INSERT INTO files (path, size, mtime_ns, md5, mode, rev, deleted)
       VALUES ($path, $size, $mtime, $md5, $mode, $rev, 0) ON CONFLICT (path)
       DO UPDATE SET size = $size, mtime_ns = $mtime, md5 = $md5, mode = $mode, rev = $rev, deleted = 0`);
    for (const u of plan.stores) {
      upsert.run({ path: u.path, size: u.size, mtime: BigInt(u.mtimeNs), md5: u.md5, mode: u.mode, rev });
    }
    const setRoot = db.query("INSERT INTO roots (path, kind) VALUES ($path, $kind) ON CONFLICT (path) DO UPDATE SET kind = $kind");
    for (const r of change.roots.set) setRoot.run({ path: r.path, kind: r.kind });
    for (const path of change.roots.remove) db.query("DELETE FROM roots WHERE path = $path").run({ path });
    const counts = { added: plan.added, modified: plan.modified, deleted: plan.deletes.length };
    db.query(`INSERT INTO revisions (rev, at_ms, client, added, modified, deleted)
       VALUES ($rev, $at, $client, $added, $modified, $deleted)`)
      .run({ rev, at: opts.nowMs, client: change.client, ...counts });
    opts.apply?.({ rev, deletes: plan.deletes, stores: plan.stores });
    return { revision: rev, stored: plan.stores.map((u) => u.path), deleted: plan.deletes };
  }).immediate();
}

// ---------------------------------------------------------------------------

type _Plan = Omit<CommitPlan, "rev"> & { conflicts: string[]; added: number; modified: number };

function _plan(table: Table, change: Changeset): _Plan {
  const plan: _Plan = { conflicts: [], deletes: [], stores: [], added: 0, modified: 0 };
  for (const d of change.deletes) {
    const row = readRow(table, d.path);
    if (row && !row.deleted) (row.rev > d.baseRev ? plan.conflicts : plan.deletes).push(d.path); // gone already: no-op
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
      if (live) plan.modified++;
      else plan.added++;
    }
  }
  plan.conflicts.push(..._shapeClashes(table, plan));
  return plan;
}

/** Stored paths that would sit under a live file, or over live files, this commit keeps. */
function _shapeClashes(table: Table, plan: _Plan): string[] {
  const deleting = new Set(plan.deletes);
  const liveFile = table.db.query("SELECT 1 FROM files WHERE path = $path AND deleted = 0");
  const liveBelow = table.db.query("SELECT path FROM files WHERE path > $lo AND path < $hi AND deleted = 0");
  const clashes: string[] = [];
  for (const u of plan.stores) {
    const fileAbove = _ancestors(u.path).some((a) => !deleting.has(a) && liveFile.get({ path: a }) !== null);
    const below = liveBelow.all({ lo: `${u.path}/`, hi: `${u.path}0` }) as { path: string }[];
    if (fileAbove || below.some((r) => !deleting.has(r.path))) clashes.push(u.path);
  }
  return clashes;
}

function _rootChanges(table: Table, change: Changeset): number {
  const kindOf = table.db.query("SELECT kind FROM roots WHERE path = $path");
  const set = change.roots.set.filter((r) => (kindOf.get({ path: r.path }) as { kind: string } | null)?.kind !== r.kind);
  const removed = change.roots.remove.filter((path) => kindOf.get({ path }) !== null);
  return set.length + removed.length;
}

function _ancestors(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}

function _toFileRow(raw: unknown): FileRow {
  const r = raw as Omit<FileRow, "deleted"> & { deleted: number };
  return { path: r.path, size: r.size, md5: r.md5, mode: r.mode, mtimeNs: r.mtimeNs, rev: r.rev, deleted: r.deleted !== 0 };
}
