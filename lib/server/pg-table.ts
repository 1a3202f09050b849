import { SQL } from "bun";
import { PG_MIGRATION_LOCK, PG_MIGRATIONS } from "./pg-schema.ts";
import { SocError } from "../shared/errors.ts";
import { ancestorPaths, checkRepoPath } from "../shared/paths.ts";
import type { Changes, FileRow, Log, PathChange, PushCommit, RevisionEntry, RootRuleBody } from "../shared/protocol.ts";
import { CHANGES_PAGE_ROWS } from "../shared/wire.ts";
import { checkChangeset, planChangeset, type Changeset, type TableFacts } from "./changeset-plan.ts";
import { DEFAULT_LOG_LIMIT } from "./history.ts";
import { blobsGone, type JournalSource } from "./table-port.ts";

/**
 * The server's table in PostgreSQL (to be chosen with `--database postgres://…`), for several
 * servers sharing one database: the same rows as the SQLite table (table.ts), read and written
 * through Bun's built-in `Bun.sql`. A commit takes its revision number under a lock on the one head row, never from a
 * sequence: with a sequence, revision N+1 could become visible before N, and a client that polled
 * "since N" in between would never see N.
 */
export interface PgTable extends AsyncDisposable {
  readonly sql: SQL;
  close(): Promise<void>;
}

/** The channel a commit notifies with its revision (LISTEN/NOTIFY), on commit. */
export const REVISION_CHANNEL = "soc_revision";

/** Opens the table at `url`, creating and migrating its schema as needed (one server at a time, under an advisory lock). */
export async function openPgTable(url: string): Promise<PgTable> {
  const sql = new SQL(url);
  try {
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PG_MIGRATION_LOCK})`;
      await tx`CREATE TABLE IF NOT EXISTS soc_schema (version integer NOT NULL)`;
      const [row] = (await tx`SELECT version FROM soc_schema`) as { version: number }[];
      if (!row) await tx`INSERT INTO soc_schema (version) VALUES (0)`;
      const version = row?.version ?? 0;
      if (version > PG_MIGRATIONS.length) {
        throw new SocError(
          "schema_too_new",
          `the database at ${_redacted(url)} has schema version ${version}, newer than this soc understands (${PG_MIGRATIONS.length}); upgrade soc`,
        );
      }
      for (const step of PG_MIGRATIONS.slice(version)) await tx.unsafe(step);
      await tx`UPDATE soc_schema SET version = ${PG_MIGRATIONS.length}`;
    });
  } catch (error) {
    await sql.close();
    if (error instanceof SocError) throw error;
    const { message, code } = error as Error & { code?: string };
    throw new SocError("database_unreachable", `cannot use the PostgreSQL database at ${_redacted(url)}: ${message}${code ? ` (${code})` : ""}`);
  }
  const close = () => sql.close();
  return { sql, close, [Symbol.asyncDispose]: close };
}

/** This database's random id (32 hex digits), made with it: another one means another database. */
export async function pgDatabaseId(t: PgTable): Promise<string> {
  const [row] = (await t.sql`SELECT id FROM server`) as { id: string }[];
  return (row as { id: string }).id;
}

/** The head revision; 0 before the first commit. */
export async function pgCurrentRevision(t: PgTable): Promise<number> {
  const [row] = (await t.sql`SELECT rev FROM head`) as { rev: string }[];
  return Number((row as { rev: string }).rev);
}

/** The row for `path` (live or tombstone), or undefined when the table never had it. */
export async function pgReadRow(t: PgTable, path: string): Promise<FileRow | undefined> {
  const rows = (await t.sql`SELECT ${t.sql.unsafe(_ROW_COLUMNS)} FROM files WHERE path = ${path}`) as _PgRow[];
  return rows[0] && _toFileRow(rows[0]);
}

/** changesSince (table.ts) of this table: one page of the rows after `since`, read in one snapshot with the head and the roots. */
export async function pgChangesSince(
  t: PgTable,
  since: number,
  page: { afterRev?: number; afterPath?: string; limit?: number } = {},
): Promise<Changes> {
  const limit = page.limit ?? CHANGES_PAGE_ROWS;
  return t.sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
    const columns = tx.unsafe(_ROW_COLUMNS);
    const [rows, roots, [head]] = (await _all([
      page.afterRev !== undefined && page.afterRev > since
        ? tx`SELECT ${columns} FROM files WHERE (rev, path) > (${page.afterRev}, ${page.afterPath ?? ""} COLLATE "C")
             ORDER BY rev, path LIMIT ${limit + 1}`
        : tx`SELECT ${columns} FROM files WHERE rev > ${since} ORDER BY rev, path LIMIT ${limit + 1}`,
      tx`SELECT path, kind FROM roots ORDER BY path`,
      tx`SELECT rev FROM head`,
    ])) as [_PgRow[], RootRuleBody[], { rev: string }[]];
    const files = rows.slice(0, limit).map(_toFileRow);
    const last = files.at(-1);
    const revision = Number((head as { rev: string }).rev);
    if (rows.length <= limit || last === undefined) return { revision, files, roots: [...roots] };
    return { revision: Math.max(since, last.rev - 1), files, roots: [...roots], next: { rev: last.rev, path: last.path } };
  });
}

/**
 * readLog (history.ts) of this table: the revisions newest first (at most `limit`); with `path`,
 * only those that changed it, with its history, each change marked `available` while its
 * content can still be read. One snapshot.
 */
export async function pgReadLog(t: PgTable, opts: { path?: string; limit?: number } = {}): Promise<Log> {
  const limit = opts.limit ?? DEFAULT_LOG_LIMIT;
  const revision = t.sql.unsafe(_REVISION_COLUMNS);
  if (opts.path === undefined) {
    const rows = (await t.sql`SELECT ${revision} FROM revisions r ORDER BY rev DESC LIMIT ${limit}`) as _PgRevision[];
    return { revisions: rows.map(_toRevision) };
  }
  const path = checkRepoPath(opts.path);
  const rows = (await t.sql`SELECT ${revision}, c.action, c.size AS "changeSize", c.md5,
      c.action <> 'deleted' AND (EXISTS (SELECT 1 FROM files f WHERE f.path = c.path AND f.rev = c.rev AND NOT f.deleted)
        OR EXISTS (SELECT 1 FROM versions v WHERE v.path = c.path AND v.rev = c.rev)) AS available
    FROM changes c JOIN revisions r ON r.rev = c.rev WHERE c.path = ${path} ORDER BY c.rev DESC LIMIT ${limit}`) as (_PgRevision & {
    action: PathChange["action"];
    changeSize: string;
    md5: string;
    available: boolean;
  })[];
  const revisions = rows.map(_toRevision);
  const history = rows.map((r, i): PathChange => {
    const { rev, at, client } = revisions[i] as RevisionEntry;
    return { rev, at, client, action: r.action, size: Number(r.changeSize), md5: r.md5, available: r.available };
  });
  return { revisions, path, history };
}

/**
 * commitChangeset (table.ts) in PostgreSQL: checks the changeset, then in one transaction locks
 * the head row, reads what the plan needs for the whole changeset at once (its reads sent
 * together), decides it with the same planChangeset (throwing its conflict, mass-delete or
 * bad-base error, which rolls back), and writes the revision's rows in a few statements, sent
 * together, with the journal entry naming where its new content waits when `source` is given.
 * Its revision is announced on REVISION_CHANNEL as it commits. The store's file work stays with
 * the caller.
 */
export async function pgCommitRows(
  t: PgTable,
  change: Changeset,
  opts: { nowMs: number; keepVersions?: boolean; source?: JournalSource; node?: string },
): Promise<PushCommit> {
  checkChangeset(change);
  return t.sql.begin(async (tx) => {
    const [head] = (await tx`SELECT rev FROM head FOR UPDATE`) as { rev: string }[];
    const current = Number((head as { rev: string }).rev);
    const plan = planChangeset(await _facts(tx, current, change), change);
    if (plan.stores.length === 0 && plan.deletes.length === 0 && plan.rootChanges === 0) return { revision: current, stored: [], deleted: [] };
    const rev = current + 1;
    await _requireBlobs(tx, plan.stores, opts.source);
    const was = new Map(plan.replaced.map((r) => [r.path, r]));
    const writes = plan.stores.map((u) => ({
      path: u.path,
      size: u.size,
      md5: u.md5,
      mode: u.mode,
      mtime_ns: u.mtimeNs,
      link: u.link ?? null,
      sha256: u.sha256 ?? null,
      action: was.has(u.path) ? "modified" : "added",
    }));
    const deletes = plan.deletes.map((path) => ({ path, mode: was.get(path)?.mode ?? 0 }));
    const modified = writes.filter((w) => w.action === "modified").length;
    const replaced = (opts.keepVersions ?? true) ? plan.replaced.map((r) => r.path) : [];
    // The statements touch different rows (a path appears once in a changeset), and run in this
    // order on the one connection: sent together, in one round trip's time.
    const statements: Promise<unknown>[] = [];
    // From the rows themselves, before they change: a version keeps every column of the content it was.
    if (replaced.length > 0)
      statements.push(tx`INSERT INTO versions (path, rev, replaced_by, replaced_at_ms, size, md5, mode, mtime_ns, link, sha256)
         SELECT path, rev, ${rev}, ${opts.nowMs}, size, md5, mode, mtime_ns, link, sha256 FROM files WHERE NOT deleted AND path = ANY(${replaced}::text[])
         ON CONFLICT (path, rev) DO UPDATE SET replaced_by = excluded.replaced_by, replaced_at_ms = excluded.replaced_at_ms`);
    statements.push(
      tx`INSERT INTO changes (path, rev, action, size, md5, mode, mtime_ns, link, sha256)
         SELECT path, ${rev}, action, size, md5, mode, mtime_ns, link, sha256 FROM jsonb_to_recordset(${writes}::jsonb)
           AS w(path text, size bigint, mtime_ns bigint, md5 text, mode integer, link text, sha256 text, action text)
         UNION ALL
         SELECT path, ${rev}, 'deleted', 0, '', mode, 0, NULL, NULL FROM jsonb_to_recordset(${deletes}::jsonb) AS d(path text, mode integer)`,
      tx`INSERT INTO revisions (rev, at_ms, client, added, modified, deleted)
         VALUES (${rev}, ${opts.nowMs}, ${change.client}, ${writes.length - modified}, ${modified}, ${deletes.length})`,
      tx`UPDATE head SET rev = ${rev}`,
      tx`SELECT pg_notify(${REVISION_CHANNEL}, ${String(rev)})`,
    );
    if (deletes.length > 0)
      statements.push(
        tx`UPDATE files SET deleted = true, size = 0, md5 = '', mtime_ns = 0, rev = ${rev}, link = NULL, sha256 = NULL
           WHERE path = ANY(${plan.deletes}::text[])`,
      );
    if (writes.length > 0)
      statements.push(tx`INSERT INTO files (path, size, mtime_ns, md5, mode, rev, deleted, link, sha256)
         SELECT path, size, mtime_ns, md5, mode, ${rev}, false, link, sha256 FROM jsonb_to_recordset(${writes}::jsonb)
           AS w(path text, size bigint, mtime_ns bigint, md5 text, mode integer, link text, sha256 text)
         ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, md5 = excluded.md5,
           mode = excluded.mode, rev = excluded.rev, deleted = false, link = excluded.link, sha256 = excluded.sha256`);
    if (change.roots.set.length > 0)
      statements.push(tx`INSERT INTO roots (path, kind) SELECT path, kind FROM jsonb_to_recordset(${change.roots.set}::jsonb) AS r(path text, kind text)
         ON CONFLICT (path) DO UPDATE SET kind = excluded.kind`);
    if (change.roots.remove.length > 0) statements.push(tx`DELETE FROM roots WHERE path = ANY(${change.roots.remove}::text[])`);
    const { source } = opts;
    if (source)
      statements.push(tx`INSERT INTO journal (rev, stage, versions, node)
         VALUES (${rev}, ${"stage" in source ? source.stage : null}, ${"versions" in source ? source.versions : null}::jsonb, ${opts.node ?? null})`);
    await _all(statements);
    return { revision: rev, stored: plan.stores.map((u) => u.path), deleted: plan.deletes };
  });
}

// ---------------------------------------------------------------------------

/** A revision's columns (history.ts's _REVISION): 64-bit numbers come back from Bun.sql as strings. */
const _REVISION_COLUMNS = `r.rev AS rev, r.at_ms AS "atMs", r.client AS client, r.added AS added, r.modified AS modified, r.deleted AS deleted`;

type _PgRevision = { rev: string; atMs: string; client: string; added: number; modified: number; deleted: number };

function _toRevision(r: _PgRevision): RevisionEntry {
  const at = new Date(Number(r.atMs)).toISOString();
  return { rev: Number(r.rev), at, client: r.client, added: r.added, modified: r.modified, deleted: r.deleted };
}

/** A row's columns as FileRow wants them: 64-bit numbers come back from Bun.sql as strings. */
const _ROW_COLUMNS = `path, size, md5, mode, mtime_ns::text AS "mtimeNs", rev, deleted, link`;

type _PgRow = { path: string; size: string; md5: string; mode: number; mtimeNs: string; rev: string; deleted: boolean; link: string | null };

function _toFileRow(r: _PgRow): FileRow {
  const row = { path: r.path, size: Number(r.size), md5: r.md5, mode: r.mode, mtimeNs: r.mtimeNs, rev: Number(r.rev), deleted: r.deleted };
  return r.link === null ? row : { ...row, link: r.link };
}

/** What planChangeset asks, read for the whole changeset in a few queries inside the commit's transaction. */
async function _facts(tx: SQL, current: number, change: Changeset): Promise<TableFacts> {
  const paths = [...change.upserts, ...change.deletes].map((c) => c.path);
  const upserts = change.upserts.map((u) => u.path);
  const ancestors = [...new Set(upserts.flatMap((p) => ancestorPaths(p)))];
  const rootPaths = [...change.roots.set.map((r) => r.path), ...change.roots.remove];
  const none = Promise.resolve([]);
  // Independent reads, sent together; each only when the changeset can ask it.
  const [rows, above, under, live, kinds] = (await _all([
    tx`SELECT ${tx.unsafe(_ROW_COLUMNS)} FROM files WHERE path = ANY(${paths}::text[])`,
    // Shape: live files at an upsert's ancestors, and live files below it.
    ancestors.length > 0 ? tx`SELECT path FROM files WHERE NOT deleted AND path = ANY(${ancestors}::text[])` : none,
    upserts.length > 0
      ? tx`SELECT u.p AS under, f.path FROM unnest(${upserts}::text[]) AS u(p)
           JOIN files f ON NOT f.deleted AND f.path > (u.p || '/') COLLATE "C" AND f.path < (u.p || '0') COLLATE "C"`
      : none,
    change.deletes.length > 0 ? tx`SELECT count(*)::integer AS n FROM files WHERE NOT deleted` : none,
    rootPaths.length > 0 ? tx`SELECT path, kind FROM roots WHERE path = ANY(${rootPaths}::text[])` : none,
  ])) as [_PgRow[], { path: string }[], { under: string; path: string }[], { n: number }[], RootRuleBody[]];
  const byPath = new Map(rows.map((r) => [r.path, _toFileRow(r)]));
  const liveAbove = new Set(above.map((r) => r.path));
  const below = new Map<string, string[]>();
  for (const r of under) {
    const list = below.get(r.under);
    if (list) list.push(r.path);
    else below.set(r.under, [r.path]);
  }
  const kindOf = new Map(kinds.map((r) => [r.path, r.kind as string]));
  return {
    current,
    row: (path) => byPath.get(path),
    clashes: (candidates, deleting) =>
      candidates.filter(
        (p) => ancestorPaths(p).some((a) => liveAbove.has(a) && !deleting.has(a)) || (below.get(p) ?? []).some((f) => !deleting.has(f)),
      ),
    liveFiles: () => live[0]?.n ?? 0,
    rootKind: (path) => kindOf.get(path),
  };
}

/** _requireBlobs in table.ts, for the whole commit in one query. */
async function _requireBlobs(tx: SQL, stores: readonly { sha256?: string }[], source: JournalSource | undefined): Promise<void> {
  const keys = stores.flatMap((u) => (u.sha256 === undefined ? [] : [u.sha256]));
  if (keys.length === 0) return;
  const stage = source && "stage" in source ? source.stage : null;
  const [row] = (await tx`SELECT count(*)::integer AS gone FROM unnest(${keys}::text[]) AS k
    WHERE EXISTS (SELECT 1 FROM blob_collecting WHERE sha256 = k)
      OR NOT (EXISTS (SELECT 1 FROM blob_claims WHERE sha256 = k AND stage = ${stage})
        OR EXISTS (SELECT 1 FROM files WHERE sha256 = k) OR EXISTS (SELECT 1 FROM versions WHERE sha256 = k))`) as { gone: number }[];
  if ((row?.gone ?? 0) > 0) throw blobsGone(row?.gone ?? 0);
}

/** Awaits every one of `queries` sent together on one connection, then throws the first failure: a rollback never overtakes one still running. */
async function _all(queries: readonly Promise<unknown>[]): Promise<unknown[]> {
  const settled = await Promise.allSettled(queries);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value);
}

/** `url` without its password, for messages. */
function _redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "the given URL";
  }
}
