import { SocError } from "../shared/errors.ts";
import type { PgTable } from "./pg-table.ts";
import { openTable } from "./table.ts";

/** Rows sent to PostgreSQL per statement. */
const BATCH = 5000;

/** What an import copied. */
export interface Imported {
  revision: number;
  files: number;
  versions: number;
}

/**
 * Moves a server's table from its SQLite file into PostgreSQL table `t`, which must hold no
 * revision yet: every row of the files, revisions, changes, versions and roots, the head, the
 * database id (clients see the same server, not a replaced one) and the content store it is bound
 * to, in one transaction. The SQLite file is migrated to this soc's schema first, and left as it
 * was otherwise. Throws SocError "import_refused" when `t` holds revisions already, or when the
 * SQLite table has a revision whose files are not all in its store yet (its server finishes that
 * at start).
 */
export async function importSqliteTable(t: PgTable, file: string): Promise<Imported> {
  using lite = openTable(file);
  const { db } = lite;
  if (db.query("SELECT 1 FROM journal LIMIT 1").get() !== null) {
    throw new SocError(
      "import_refused",
      `${file} has a revision whose files are not all in its store yet: start its server once, stop it, then import`,
    );
  }
  const server = db.query("SELECT id, content FROM server").get() as { id: string; content: string | null };
  const revision = (db.query("SELECT COALESCE(MAX(rev), 0) AS rev FROM revisions").get() as { rev: number }).rev;
  // Awaited here: the SQLite file stays open until the copy is done.
  return await t.sql.begin(async (tx) => {
    const [head] = (await tx`SELECT rev FROM head FOR UPDATE`) as { rev: string }[];
    if (Number(head?.rev) !== 0) {
      throw new SocError("import_refused", `the PostgreSQL table already holds revision ${head?.rev}: import only into a new, empty database`);
    }
    const copy = async (select: string, insert: (rows: unknown[]) => Promise<unknown>) => {
      let n = 0;
      let rows: unknown[] = [];
      for (const row of db.query(select).iterate()) {
        rows.push(row);
        if (rows.length === BATCH) {
          await insert(rows);
          n += rows.length;
          rows = [];
        }
      }
      if (rows.length > 0) await insert(rows);
      return n + rows.length;
    };
    // 64-bit columns leave SQLite as text, so that none is rounded on the way.
    const files = await copy(
      "SELECT path, size, CAST(mtime_ns AS TEXT) AS mtime_ns, md5, mode, rev, deleted, link, sha256 FROM files",
      (rows) => tx`INSERT INTO files (path, size, mtime_ns, md5, mode, rev, deleted, link, sha256)
        SELECT path, size, mtime_ns::bigint, md5, mode, rev, deleted <> 0, link, sha256 FROM jsonb_to_recordset(${rows}::jsonb)
          AS r(path text, size bigint, mtime_ns text, md5 text, mode integer, rev bigint, deleted integer, link text, sha256 text)`,
    );
    await copy(
      "SELECT path, rev, action, size, md5, mode, CAST(mtime_ns AS TEXT) AS mtime_ns, link, sha256 FROM changes",
      (rows) => tx`INSERT INTO changes (path, rev, action, size, md5, mode, mtime_ns, link, sha256)
        SELECT path, rev, action, size, md5, mode, mtime_ns::bigint, link, sha256 FROM jsonb_to_recordset(${rows}::jsonb)
          AS r(path text, rev bigint, action text, size bigint, md5 text, mode integer, mtime_ns text, link text, sha256 text)`,
    );
    const versions = await copy(
      "SELECT path, rev, replaced_by, replaced_at_ms, size, md5, mode, CAST(mtime_ns AS TEXT) AS mtime_ns, link, sha256 FROM versions",
      (rows) => tx`INSERT INTO versions (path, rev, replaced_by, replaced_at_ms, size, md5, mode, mtime_ns, link, sha256)
        SELECT path, rev, replaced_by, replaced_at_ms, size, md5, mode, mtime_ns::bigint, link, sha256 FROM jsonb_to_recordset(${rows}::jsonb)
          AS r(path text, rev bigint, replaced_by bigint, replaced_at_ms bigint, size bigint, md5 text, mode integer, mtime_ns text, link text, sha256 text)`,
    );
    await copy(
      "SELECT rev, at_ms, client, added, modified, deleted FROM revisions",
      (rows) => tx`INSERT INTO revisions (rev, at_ms, client, added, modified, deleted)
        SELECT rev, at_ms, client, added, modified, deleted FROM jsonb_to_recordset(${rows}::jsonb)
          AS r(rev bigint, at_ms bigint, client text, added integer, modified integer, deleted integer)`,
    );
    await copy(
      "SELECT path, kind FROM roots",
      (rows) => tx`INSERT INTO roots (path, kind) SELECT path, kind FROM jsonb_to_recordset(${rows}::jsonb) AS r(path text, kind text)`,
    );
    await tx`UPDATE head SET rev = ${revision}`;
    await tx`UPDATE server SET id = ${server.id}, content = ${server.content}`;
    return { revision, files, versions };
  });
}
