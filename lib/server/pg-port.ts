import { ancestorPaths } from "../shared/paths.ts";
import { followPgHead, pgLeadership } from "./pg-coordination.ts";
import { openPgTable, pgChangesSince, pgCommitRows, pgCurrentRevision, pgDatabaseId, pgReadLog, pgReadRow, type PgTable } from "./pg-table.ts";
import {
  contentElsewhere,
  type BlobRows,
  type ChangeAt,
  type JournalEntry,
  type JournalRows,
  type JournalSource,
  type RevisionWork,
  type TablePort,
} from "./table-port.ts";

/** The advisory lock key of the background jobs' leader ("soc" and 1). */
const LEADER_LOCK = 0x736f6301;

/**
 * The table port over PostgreSQL (pg-table.ts), for servers sharing one database: it follows
 * the head through the database's announcements (a commit through any server wakes this one's
 * long polls) and leads the background jobs only while it holds the leader's lock.
 */
export async function openPgPort(url: string, opts: { commitThread?: boolean } = {}): Promise<TablePort> {
  await using stack = new AsyncDisposableStack();
  const t = stack.use(await openPgTable(url));
  const id = await pgDatabaseId(t);
  const listeners: (() => void)[] = [];
  // The commit worker's own port answers no long poll: it listens for nothing.
  const follower = opts.commitThread ? _unfollowed() : stack.use(await followPgHead(t, () => listeners.forEach((l) => l())));
  const leadership = stack.use(pgLeadership(t, LEADER_LOCK));
  const owned = stack.move();
  const close = () => owned.disposeAsync();
  const { sql } = t;
  return {
    location: url,
    id,
    bindContent: async (content) => {
      const bound = await sql.begin(async (tx) => {
        const [row] = (await tx`SELECT content FROM server FOR UPDATE`) as { content: string | null }[];
        if (row?.content != null) return row.content;
        await tx`UPDATE server SET content = ${content}`;
        return content;
      });
      if (bound !== content) throw contentElsewhere(bound, content);
    },
    head: () => pgCurrentRevision(t),
    knownHead: () => follower.head(),
    onHeadMove: (listener) => void listeners.push(listener),
    changesSince: (since, page) => pgChangesSince(t, since, page),
    readRow: (path) => pgReadRow(t, path),
    readLog: (o) => pgReadLog(t, o),
    changeAt: (path, asOf) => _changeAt(t, path, asOf),
    newestVersion: async (path) => {
      const [row] = (await sql`SELECT v.rev FROM versions v LEFT JOIN files f ON f.path = v.path AND NOT f.deleted
        WHERE v.path = ${path} AND v.rev < COALESCE(f.rev, ${Number.MAX_SAFE_INTEGER}) ORDER BY v.rev DESC LIMIT 1`) as { rev: string }[];
      return row && Number(row.rev);
    },
    liveRows: async () =>
      (
        (await sql`SELECT path, md5, rev, link FROM files WHERE NOT deleted`) as { path: string; md5: string; rev: string; link: string | null }[]
      ).map((r) => ({ ...r, rev: Number(r.rev) })),
    pathsWithContent: async (md5, size, limit) =>
      (
        (await sql`SELECT path FROM files WHERE md5 = ${md5} AND size = ${size} AND NOT deleted AND link IS NULL LIMIT ${limit}`) as {
          path: string;
        }[]
      ).map((r) => r.path),
    shapeClashes: (paths) => _shapeClashes(t, paths),
    commit: (change, o) => pgCommitRows(t, change, o),
    expireVersions: async (cutoff) =>
      ((await sql`DELETE FROM versions WHERE replaced_at_ms < ${cutoff} RETURNING path, rev`) as { path: string; rev: string }[]).map((r) => ({
        path: r.path,
        rev: Number(r.rev),
      })),
    journal: _journalRows(t),
    blobs: _blobRows(t),
    lead: () => leadership.lead(),
    checkpoint: () => {},
    close,
    [Symbol.asyncDispose]: close,
  };
}

// ---------------------------------------------------------------------------

/** knownHead for a port that follows nothing (the commit worker's): never asked. */
function _unfollowed(): { head(): number } {
  return {
    head: () => {
      throw new Error("the commit worker's table follows no head");
    },
  };
}

async function _changeAt(t: PgTable, path: string, asOf: number): Promise<ChangeAt> {
  // One snapshot: the change, the first revision, and whether its content is live or kept.
  return t.sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
    const [change] = (await tx`SELECT c.rev, c.action, c.size, c.md5, c.mode, c.mtime_ns::text AS "mtimeNs", c.link, c.sha256,
        EXISTS (SELECT 1 FROM files f WHERE f.path = c.path AND f.rev = c.rev AND NOT f.deleted) AS current,
        EXISTS (SELECT 1 FROM versions v WHERE v.path = c.path AND v.rev = c.rev) AS versioned
      FROM changes c WHERE c.path = ${path} AND c.rev <= ${asOf} ORDER BY c.rev DESC LIMIT 1`) as {
      rev: string;
      action: "added" | "modified" | "deleted";
      size: string;
      md5: string;
      mode: number;
      mtimeNs: string;
      link: string | null;
      sha256: string | null;
      current: boolean;
      versioned: boolean;
    }[];
    if (!change) {
      const [first] = (await tx`SELECT MIN(rev) AS rev FROM changes WHERE path = ${path}`) as { rev: string | null }[];
      return { current: false, kept: false, ...(first?.rev == null ? {} : { firstRev: Number(first.rev) }) };
    }
    const { rev, action, size, md5, mode, mtimeNs, link, sha256, current, versioned } = change;
    const content = { rev: Number(rev), action, size: Number(size), md5, mode, mtimeNs };
    return {
      change: { ...content, ...(link === null ? {} : { link }), ...(sha256 === null ? {} : { sha256 }) },
      current,
      kept: current || versioned,
    };
  });
}

/** Of `paths`, those under a live file or over live files (shapeClashes in table.ts). */
async function _shapeClashes(t: PgTable, paths: readonly string[]): Promise<string[]> {
  if (paths.length === 0) return [];
  const ancestors = [...new Set(paths.flatMap((p) => ancestorPaths(p)))];
  const [above, over] = (await Promise.all([
    ancestors.length > 0 ? t.sql`SELECT path FROM files WHERE NOT deleted AND path = ANY(${ancestors}::text[])` : [],
    t.sql`SELECT u.p AS path FROM unnest(${paths}::text[]) AS u(p) WHERE EXISTS (SELECT 1 FROM files f
      WHERE NOT f.deleted AND f.path > (u.p || '/') COLLATE "C" AND f.path < (u.p || '0') COLLATE "C")`,
  ])) as [{ path: string }[], { path: string }[]];
  const liveAbove = new Set(above.map((r) => r.path));
  const overFiles = new Set(over.map((r) => r.path));
  return paths.filter((p) => overFiles.has(p) || ancestorPaths(p).some((a) => liveAbove.has(a)));
}

function _blobRows(t: PgTable): BlobRows {
  const { sql } = t;
  return {
    // Each under the head row's lock, as a commit: claims, marks and commits never interleave.
    claim: (keys, stage, nowMs) =>
      sql.begin(async (tx) => {
        await tx`SELECT rev FROM head FOR UPDATE`;
        const busy = ((await tx`SELECT sha256 FROM blob_collecting WHERE sha256 = ANY(${keys}::text[])`) as { sha256: string }[]).map(
          (r) => r.sha256,
        );
        const marked = new Set(busy);
        const free = keys.filter((k) => !marked.has(k));
        if (free.length > 0)
          await tx`INSERT INTO blob_claims (sha256, stage, at_ms) SELECT k, ${stage}, ${nowMs} FROM unnest(${free}::text[]) AS k
            ON CONFLICT (sha256, stage) DO UPDATE SET at_ms = excluded.at_ms`;
        return busy;
      }),
    release: async (stage) => {
      await sql`DELETE FROM blob_claims WHERE stage = ${stage}`;
    },
    markGarbage: (candidates, claimCutoffMs, owner, nowMs) =>
      sql.begin(async (tx) => {
        await tx`SELECT rev FROM head FOR UPDATE`;
        await tx`DELETE FROM blob_claims WHERE at_ms < ${claimCutoffMs}`;
        const rows = (await tx`INSERT INTO blob_collecting (sha256, owner, at_ms) SELECT k, ${owner}, ${nowMs} FROM unnest(${candidates}::text[]) AS k
          WHERE NOT EXISTS (SELECT 1 FROM files WHERE sha256 = k) AND NOT EXISTS (SELECT 1 FROM versions WHERE sha256 = k)
            AND NOT EXISTS (SELECT 1 FROM blob_claims WHERE sha256 = k)
          ON CONFLICT (sha256) DO NOTHING RETURNING sha256`) as { sha256: string }[];
        const marked = new Set(rows.map((r) => r.sha256));
        return candidates.filter((k) => marked.has(k));
      }),
    takeOverMarks: async (owner, staleBeforeMs, nowMs) =>
      (
        (await sql`UPDATE blob_collecting SET owner = ${owner}, at_ms = ${nowMs} WHERE at_ms < ${staleBeforeMs} RETURNING sha256`) as {
          sha256: string;
        }[]
      )
        .map((r) => r.sha256)
        .sort(),
    unmark: async (keys) => {
      await sql`DELETE FROM blob_collecting WHERE sha256 = ANY(${keys}::text[])`;
    },
  };
}

function _journalRows(t: PgTable): JournalRows {
  const { sql } = t;
  return {
    entries: async () =>
      ((await sql`SELECT rev, stage, versions FROM journal ORDER BY rev`) as { rev: string; stage: string | null; versions: unknown }[]).map(
        (e): JournalEntry => {
          const source: JournalSource = e.stage !== null ? { stage: e.stage } : { versions: e.versions as { path: string; rev: number }[] };
          return { rev: Number(e.rev), source };
        },
      ),
    work: async (rev): Promise<RevisionWork> => {
      const [changes, keep] = (await Promise.all([
        sql`SELECT path, action, mode, link FROM changes WHERE rev = ${rev} ORDER BY path`,
        sql`SELECT path, rev FROM versions WHERE replaced_by = ${rev} ORDER BY path`,
      ])) as [RevisionWork["changes"], { path: string; rev: string }[]];
      return { changes: [...changes], keep: keep.map((k) => ({ path: k.path, rev: Number(k.rev) })) };
    },
    clear: async (rev) => {
      await sql`DELETE FROM journal WHERE rev = ${rev}`;
    },
    pending: async () => ((await sql`SELECT 1 FROM journal LIMIT 1`) as unknown[]).length > 0,
    firstUnplaced: async () => {
      const [row] = (await sql`SELECT COALESCE((SELECT MIN(rev) FROM journal), (SELECT rev + 1 FROM head)) AS rev`) as { rev: string }[];
      return Number(row?.rev);
    },
    holdsStage: async (id) => ((await sql`SELECT 1 FROM journal WHERE stage = ${id}`) as unknown[]).length > 0,
  };
}
