import { readLog } from "./history.ts";
import { contentElsewhere, type BlobRows, type ChangeAt, type JournalEntry, type JournalRows, type TablePort } from "./table-port.ts";
import { changesSince, commitChangeset, currentRevision, databaseId, openTable, readRow, shapeClashes, type Table } from "./table.ts";

/**
 * The table port over SQLite (table.ts), the embedded default: each answer is one synchronous
 * query or transaction, so a commit's check and write never interleave with another's. With
 * `commitThread` (the commit worker's own connection), the write-ahead log is copied back only
 * by `checkpoint`, after the client has its answer, instead of inside a big commit's COMMIT.
 */
export function openSqlitePort(file: string, opts: { commitThread?: boolean } = {}): TablePort {
  const table = openTable(file);
  if (opts.commitThread) table.db.exec("PRAGMA wal_autocheckpoint = 0");
  return sqlitePort(table, { owned: true });
}

/** The port over an open SQLite `table`; closing the port closes the table only when `owned`. */
export function sqlitePort(table: Table, opts: { owned?: boolean } = {}): TablePort {
  const { db } = table;
  const file = db.filename;
  const close = async () => {
    if (opts.owned) table.close();
  };
  return {
    location: file === "" || file === ":memory:" ? undefined : file,
    id: databaseId(table),
    bindContent: async (content) => {
      const bound = db
        .transaction(() => {
          db.query("UPDATE server SET content = $content WHERE content IS NULL").run({ content });
          return (db.query("SELECT content FROM server").get() as { content: string }).content;
        })
        .immediate();
      if (bound !== content) throw contentElsewhere(bound, content);
    },
    head: async () => currentRevision(table),
    knownHead: () => currentRevision(table),
    onHeadMove: () => {},
    changesSince: async (since, page) => changesSince(table, since, page),
    readRow: async (path) => readRow(table, path),
    readLog: async (o) => readLog(table, o),
    changeAt: async (path, asOf) => _changeAt(table, path, asOf),
    newestVersion: async (path) => {
      const row = readRow(table, path);
      const below = row && !row.deleted ? row.rev : Number.MAX_SAFE_INTEGER;
      const found = db.query("SELECT rev FROM versions WHERE path = $path AND rev < $below ORDER BY rev DESC LIMIT 1").get({ path, below });
      return (found as { rev: number } | null)?.rev;
    },
    liveRows: async () => db.query("SELECT path, md5, rev, link FROM files WHERE deleted = 0").all() as Awaited<ReturnType<TablePort["liveRows"]>>,
    pathsWithContent: async (md5, size, limit) =>
      (
        db
          .query("SELECT path FROM files WHERE md5 = $md5 AND size = $size AND deleted = 0 AND link IS NULL LIMIT $limit")
          .all({ md5, size, limit }) as {
          path: string;
        }[]
      ).map((r) => r.path),
    shapeClashes: async (paths) => shapeClashes(table, paths),
    commit: async (change, o) => commitChangeset(table, change, o),
    expireVersions: async (cutoff) =>
      db
        .transaction(() => {
          const rows = db.query("SELECT path, rev FROM versions WHERE replaced_at_ms < $cutoff").all({ cutoff });
          db.query("DELETE FROM versions WHERE replaced_at_ms < $cutoff").run({ cutoff });
          return rows as { path: string; rev: number }[];
        })
        .immediate(),
    journal: _journalRows(table),
    blobs: _blobRows(table),
    lead: async () => true,
    checkpoint: () => {
      db.exec("PRAGMA wal_checkpoint(PASSIVE)");
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

// ---------------------------------------------------------------------------

function _changeAt(table: Table, path: string, asOf: number): ChangeAt {
  const { db } = table;
  const change = db
    .query(
      `SELECT rev, action, size, md5, mode, CAST(mtime_ns AS TEXT) AS mtimeNs, link, sha256 FROM changes
       WHERE path = $path AND rev <= $asOf ORDER BY rev DESC LIMIT 1`,
    )
    .get({ path, asOf }) as (NonNullable<ChangeAt["change"]> & { link: string | null; sha256: string | null }) | null;
  if (!change) {
    const first = db.query("SELECT MIN(rev) AS rev FROM changes WHERE path = $path").get({ path }) as { rev: number | null };
    return { current: false, kept: false, ...(first.rev === null ? {} : { firstRev: first.rev }) };
  }
  const { link, sha256, ...rest } = change;
  const row = readRow(table, path);
  const current = row !== undefined && !row.deleted && row.rev === change.rev;
  const kept = current || db.query("SELECT 1 FROM versions WHERE path = $path AND rev = $rev").get({ path, rev: change.rev }) !== null;
  return { change: { ...rest, ...(link === null ? {} : { link }), ...(sha256 === null ? {} : { sha256 }) }, current, kept };
}

function _blobRows(table: Table): BlobRows {
  const { db } = table;
  const isMarked = db.query("SELECT 1 FROM blob_collecting WHERE sha256 = $key");
  return {
    claim: async (keys, stage, nowMs) =>
      db
        .transaction(() => {
          const claim = db.query("INSERT OR REPLACE INTO blob_claims (sha256, stage, at_ms) VALUES ($key, $stage, $nowMs)");
          const busy: string[] = [];
          for (const key of keys) {
            if (isMarked.get({ key }) !== null) busy.push(key);
            else claim.run({ key, stage, nowMs });
          }
          return busy;
        })
        .immediate(),
    release: async (stage) => {
      db.query("DELETE FROM blob_claims WHERE stage = $stage").run({ stage });
    },
    markGarbage: async (candidates, claimCutoffMs, owner, nowMs) =>
      db
        .transaction(() => {
          db.query("DELETE FROM blob_claims WHERE at_ms < $claimCutoffMs").run({ claimCutoffMs });
          const held = db.query(`SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = $key) OR EXISTS (SELECT 1 FROM versions WHERE sha256 = $key)
            OR EXISTS (SELECT 1 FROM blob_claims WHERE sha256 = $key) OR EXISTS (SELECT 1 FROM blob_collecting WHERE sha256 = $key) AS held`);
          const mark = db.query("INSERT INTO blob_collecting (sha256, owner, at_ms) VALUES ($key, $owner, $nowMs)");
          return candidates.filter((key) => {
            if ((held.get({ key }) as { held: number }).held !== 0) return false;
            mark.run({ key, owner, nowMs });
            return true;
          });
        })
        .immediate(),
    takeOverMarks: async (owner, staleBeforeMs, nowMs) =>
      (
        db
          .query("UPDATE blob_collecting SET owner = $owner, at_ms = $nowMs WHERE at_ms < $staleBeforeMs RETURNING sha256")
          .all({ owner, nowMs, staleBeforeMs }) as { sha256: string }[]
      )
        .map((r) => r.sha256)
        .sort(),
    unmark: async (keys) =>
      db.transaction(() => {
        for (const key of keys) db.query("DELETE FROM blob_collecting WHERE sha256 = $key").run({ key });
      })(),
  };
}

function _journalRows(table: Table): JournalRows {
  const { db } = table;
  return {
    entries: async () =>
      (
        db.query("SELECT rev, stage, versions FROM journal ORDER BY rev").all() as { rev: number; stage: string | null; versions: string | null }[]
      ).map((e): JournalEntry => ({
        rev: e.rev,
        source:
          e.stage !== null
            ? { stage: e.stage }
            : { versions: (JSON.parse(e.versions ?? "[]") as [string, number][]).map(([path, rev]) => ({ path, rev })) },
      })),
    work: async (rev) => ({
      changes: db.query("SELECT path, action, mode, link, size, sha256 FROM changes WHERE rev = $rev ORDER BY path").all({ rev }) as Awaited<
        ReturnType<JournalRows["work"]>
      >["changes"],
      keep: db.query("SELECT path, rev FROM versions WHERE replaced_by = $rev ORDER BY path").all({ rev }) as { path: string; rev: number }[],
    }),
    clear: async (rev) => {
      db.query("DELETE FROM journal WHERE rev = $rev").run({ rev });
    },
    pending: async () => db.query("SELECT 1 FROM journal LIMIT 1").get() !== null,
    firstUnplaced: async () => (db.query("SELECT MIN(rev) AS rev FROM journal").get() as { rev: number | null }).rev ?? currentRevision(table) + 1,
    holdsStage: async (id) => db.query("SELECT 1 FROM journal WHERE stage = $id").get({ id }) !== null,
  };
}
