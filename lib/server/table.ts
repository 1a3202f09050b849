import type { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { openDb } from "../shared/db.ts";
import { ancestorPaths } from "../shared/paths.ts";
import type { Changes, FileRow, PushCommit, RootRuleBody } from "../shared/protocol.ts";
import { CHANGES_PAGE_ROWS } from "../shared/wire.ts";
import { checkChangeset, planChangeset, type Changeset, type TableFacts } from "./changeset-plan.ts";
import { writeRevision } from "./revision.ts";
import { blobsGone, type JournalSource } from "./table-port.ts";
import { SERVER_MIGRATIONS } from "./schema.ts";

/** The server's authoritative state: file rows (with tombstones), revisions and root rules. */
export interface Table extends Disposable {
  readonly db: Database;
  close(): void;
}

// mtime_ns is read back as TEXT so the 64-bit value survives exactly (a JS number would round it).
const ROW_COLUMNS = `path, size, md5, mode, CAST(mtime_ns AS TEXT) AS mtimeNs, rev, deleted, link`;

/** Opens (creating it, its directory, and migrating) the server database at `file`; close or `using` it. */
export function openTable(file: string): Table {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  // Durable: a revision a client was told about must never vanish and be handed out again.
  const db = openDb(file, SERVER_MIGRATIONS, { durable: true });
  return { db, close: () => db.close(), [Symbol.dispose]: () => db.close() };
}

/** This database's random id (32 hex digits), made when it was created: a replaced or reset server has another. */
export function databaseId(table: Table): string {
  return (table.db.query("SELECT id FROM server").get() as { id: string }).id;
}

/** The latest revision number; 0 before the first push. */
export function currentRevision(table: Table): number {
  const row = table.db.query("SELECT COALESCE(MAX(rev), 0) AS rev FROM revisions").get() as { rev: number };
  return row.rev;
}

/**
 * The two queries of changesSince, each one range of the files_rev index (whose entries are
 * (rev, path) in a WITHOUT ROWID table), read in its order from its first row: a poll with nothing
 * new reads no row at all, however big the table or its newest revision. One lower bound each: given
 * two (rev > since AND (rev, path) > cursor), SQLite ranges over one and filters the rest, and
 * the one it picks can be the rows of a whole revision.
 */
export const CHANGES_SQL = {
  /** The first page: every row after revision `$since`. */
  first: `SELECT ${ROW_COLUMNS} FROM files INDEXED BY files_rev WHERE rev > $since ORDER BY rev, path LIMIT $limit`,
  /** A following page: the rows after the cursor (`$rev`, `$path`), in (rev, path) order. */
  after: `SELECT ${ROW_COLUMNS} FROM files INDEXED BY files_rev WHERE (rev, path) > ($rev, $path) ORDER BY rev, path LIMIT $limit`,
};

/**
 * One page of the rows changed after revision `since` (tombstones included), in (rev, path)
 * order, starting after row (`afterRev`, `afterPath`) when given, at most `limit` rows; and every
 * root rule. A row changed again while a client pages moves to a later revision, so the client
 * meets it again further on: the pages together miss nothing. `revision` is what the pages so
 * far complete: the head on the last page, else one below the revision the page stops in.
 */
export function changesSince(table: Table, since: number, page: { afterRev?: number; afterPath?: string; limit?: number } = {}): Changes {
  const limit = page.limit ?? CHANGES_PAGE_ROWS;
  return table.db.transaction(() => {
    // A cursor past `since` implies rev > since; one at or before it (or none) leaves rev > since alone.
    const rows =
      page.afterRev !== undefined && page.afterRev > since
        ? table.db.query(CHANGES_SQL.after).all({ rev: page.afterRev, path: page.afterPath ?? "", limit: limit + 1 })
        : table.db.query(CHANGES_SQL.first).all({ since, limit: limit + 1 });
    const roots = table.db.query("SELECT path, kind FROM roots ORDER BY path").all() as RootRuleBody[];
    const files = rows.slice(0, limit).map(_toFileRow);
    const head = currentRevision(table);
    const last = files.at(-1);
    if (rows.length <= limit || last === undefined) return { revision: head, files, roots };
    return { revision: Math.max(since, last.rev - 1), files, roots, next: { rev: last.rev, path: last.path } };
  })();
}

/** The row for `path` (live or tombstone), or undefined when the server never had it. */
export function readRow(table: Table, path: string): FileRow | undefined {
  const row = table.db.query(`SELECT ${ROW_COLUMNS} FROM files WHERE path = $path`).get({ path });
  return row ? _toFileRow(row) : undefined;
}

/** What a commit's plan reads (changeset-plan.ts), asked of this table as the plan goes, inside the caller's transaction. */
export function tableFacts(table: Table, current: number): TableFacts {
  const kindOf = table.db.query("SELECT kind FROM roots WHERE path = $path");
  return {
    current,
    row: (path) => readRow(table, path),
    clashes: (paths, deleting) => shapeClashes(table, paths, deleting),
    liveFiles: () => (table.db.query("SELECT COUNT(*) AS live FROM files WHERE deleted = 0").get() as { live: number }).live,
    rootKind: (path) => (kindOf.get({ path }) as { kind: string } | null)?.kind,
  };
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

/**
 * Commits a changeset's rows in one transaction: throws what planChangeset throws (a conflict, a
 * mass deletion, a base ahead of the server), else writes revision+1 and, given the `source` of
 * its new content, the journal entry that puts its files in the store (runJournal, after this
 * returns). Replaced files are recorded as versions unless `keepVersions` is false. A changeset
 * that changes nothing returns the current revision.
 */
export function commitChangeset(
  table: Table,
  change: Changeset,
  opts: { nowMs: number; keepVersions?: boolean; source?: JournalSource },
): PushCommit {
  checkChangeset(change);
  const { db } = table;
  return db
    .transaction(() => {
      const current = currentRevision(table);
      const plan = planChangeset(tableFacts(table, current), change);
      if (plan.stores.length === 0 && plan.deletes.length === 0 && plan.rootChanges === 0) {
        return { revision: current, stored: [], deleted: [] };
      }
      const rev = current + 1;
      const { stores, deletes, replaced } = plan;
      _requireBlobs(table, stores, opts.source);
      const keepVersions = opts.keepVersions ?? true;
      writeRevision(db, { rev, nowMs: opts.nowMs, client: change.client, writes: stores, deletes, replaced, keepVersions });
      const setRoot = db.query("INSERT INTO roots (path, kind) VALUES ($path, $kind) ON CONFLICT (path) DO UPDATE SET kind = $kind");
      for (const r of change.roots.set) setRoot.run({ path: r.path, kind: r.kind });
      for (const path of change.roots.remove) db.query("DELETE FROM roots WHERE path = $path").run({ path });
      if (opts.source) recordJournal(db, rev, opts.source);
      return { revision: rev, stored: plan.stores.map((u) => u.path), deleted: plan.deletes };
    })
    .immediate();
}

/**
 * Inside a commit's transaction: every blob its `stores` name must be held (by a claim of the
 * push's stage, or by a row) and not being deleted, else SocError "content_gone" (503): its
 * claim expired while it ran, or a restore's version expired meanwhile. Its client pushes again.
 */
function _requireBlobs(table: Table, stores: readonly { sha256?: string }[], source: JournalSource | undefined): void {
  const stage = source && "stage" in source ? source.stage : null;
  const lost = table.db.query(`SELECT EXISTS (SELECT 1 FROM blob_collecting WHERE sha256 = $key)
      OR NOT (EXISTS (SELECT 1 FROM blob_claims WHERE sha256 = $key AND stage = $stage)
        OR EXISTS (SELECT 1 FROM files WHERE sha256 = $key) OR EXISTS (SELECT 1 FROM versions WHERE sha256 = $key)) AS lost`);
  const gone = stores.filter((u) => u.sha256 !== undefined && (lost.get({ key: u.sha256, stage }) as { lost: number }).lost !== 0).length;
  if (gone > 0) throw blobsGone(gone);
}

/** Records, inside the caller's transaction, that revision `rev`'s files are still to be put in place from `source` (journal.ts). */
export function recordJournal(db: Database, rev: number, source: JournalSource): void {
  const stage = "stage" in source ? source.stage : null;
  const versions = "versions" in source ? JSON.stringify(source.versions.map((v) => [v.path, v.rev])) : null;
  db.query("INSERT INTO journal (rev, stage, versions) VALUES ($rev, $stage, $versions)").run({ rev, stage, versions });
}

// ---------------------------------------------------------------------------

function _toFileRow(raw: unknown): FileRow {
  const r = raw as Omit<FileRow, "deleted" | "link"> & { deleted: number; link: string | null };
  const row = { path: r.path, size: r.size, md5: r.md5, mode: r.mode, mtimeNs: r.mtimeNs, rev: r.rev, deleted: r.deleted !== 0 };
  return r.link === null ? row : { ...row, link: r.link };
}
