import { ancestorPaths } from "../shared/paths.ts";
import { SocError } from "../shared/errors.ts";
import { followPgHead, pgLeadership, type Leadership } from "./pg-coordination.ts";
import { openPgTable, pgChangesSince, pgCommitRows, pgCurrentRevision, pgDatabaseId, pgReadLog, pgReadRow, type PgTable } from "./pg-table.ts";
import {
  contentElsewhere,
  notInObjectStore,
  type BlobRows,
  type ClusterRows,
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
 * long polls) and leads the background jobs only while it holds the leader's lock. With `node`,
 * this server is that node of a cluster (ClusterRows): its journal is that node's.
 */
export async function openPgPort(url: string, opts: { commitThread?: boolean; node?: string } = {}): Promise<TablePort> {
  await using stack = new AsyncDisposableStack();
  const t = stack.use(await openPgTable(url));
  const id = await pgDatabaseId(t);
  const listeners: (() => void)[] = [];
  // The commit worker's own port answers no long poll: it listens for nothing.
  const follower = opts.commitThread ? _unfollowed() : stack.use(await followPgHead(t, () => listeners.forEach((l) => l())));
  const leadership = stack.use(pgLeadership(t, LEADER_LOCK));
  // A node is one process: the lock named by its id, held while it runs (not by its commit worker, which shares its id).
  const nodeLock = opts.node !== undefined && !opts.commitThread ? stack.use(pgLeadership(t, _nodeLockKey(opts.node))) : undefined;
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
    commit: (change, o) => pgCommitRows(t, change, { ...o, ...(opts.node === undefined ? {} : { node: opts.node }) }),
    expireVersions: async (cutoff) =>
      ((await sql`DELETE FROM versions WHERE replaced_at_ms < ${cutoff} RETURNING path, rev`) as { path: string; rev: string }[]).map((r) => ({
        path: r.path,
        rev: Number(r.rev),
      })),
    journal: opts.node === undefined ? _journalRows(t) : _nodeJournalRows(t, opts.node),
    ...(opts.node === undefined ? {} : { cluster: _clusterRows(t, opts.node, nodeLock) }),
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
    work: (rev) => _work(t, rev),
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

/** The journal of node `node` of a cluster: every revision after its cursor, its own from their stage or kept versions, the others' from blobs. */
function _nodeJournalRows(t: PgTable, node: string): JournalRows {
  const { sql } = t;
  const behind = async () => {
    const [row] = (await sql`SELECT n.placed, h.rev FROM nodes n, head h WHERE n.node = ${node}`) as { placed: string; rev: string }[];
    return row ? { placed: Number(row.placed), head: Number(row.rev) } : undefined;
  };
  return {
    entries: async () =>
      (
        (await sql`SELECT g.rev, j.stage, j.versions FROM nodes n
          CROSS JOIN LATERAL generate_series(n.placed + 1, (SELECT rev FROM head)) AS g(rev)
          LEFT JOIN journal j ON j.rev = g.rev AND j.node = ${node}
          WHERE n.node = ${node} ORDER BY g.rev`) as { rev: string; stage: string | null; versions: unknown }[]
      ).map((e): JournalEntry => {
        if (e.stage !== null) return { rev: Number(e.rev), source: { stage: e.stage } };
        if (e.versions !== null) return { rev: Number(e.rev), source: { versions: e.versions as { path: string; rev: number }[] } };
        return { rev: Number(e.rev), source: { blobs: true } };
      }),
    work: (rev) => _work(t, rev),
    clear: async (rev) => {
      await sql.begin(async (tx) => {
        await tx`DELETE FROM journal WHERE rev = ${rev} AND node = ${node}`;
        await tx`UPDATE nodes SET placed = GREATEST(placed, ${rev}) WHERE node = ${node}`;
      });
    },
    pending: async () => {
      const b = await behind();
      return b !== undefined && b.placed < b.head;
    },
    firstUnplaced: async () => {
      const b = await behind();
      return b === undefined ? Number.MAX_SAFE_INTEGER : b.placed + 1;
    },
    holdsStage: async (id) => ((await sql`SELECT 1 FROM journal WHERE stage = ${id}`) as unknown[]).length > 0,
  };
}

/** The advisory lock key of node `node` (its first 13 hex digits: a safe integer, in the one-key lock space with LEADER_LOCK). */
function _nodeLockKey(node: string): number {
  return Number.parseInt(node.slice(0, 13), 16);
}

function _clusterRows(t: PgTable, node: string, lock: Leadership | undefined): ClusterRows {
  const { sql } = t;
  return {
    node,
    join: async (content, directory) => {
      if (!lock || !(await lock.lead())) {
        throw new SocError(
          "node_running",
          `another server is running as node ${node} of this cluster: two servers never share a store directory (or its state directory); give each its own --store`,
        );
      }
      return sql.begin(async (tx): Promise<Awaited<ReturnType<ClusterRows["join"]>>> => {
        const [row] = (await tx`SELECT content FROM server FOR UPDATE`) as { content: string | null }[];
        const bound = row?.content ?? null;
        const [h] = (await tx`SELECT rev FROM head`) as { rev: string }[];
        const head = Number(h?.rev ?? 0);
        if (bound === directory) {
          // This server, alone until now with its store directory, joins a cluster: everything must be in the object store.
          const [left] = (await tx`SELECT EXISTS (SELECT 1 FROM journal) AS journal,
              EXISTS (SELECT 1 FROM files WHERE NOT deleted AND link IS NULL AND sha256 IS NULL)
                OR EXISTS (SELECT 1 FROM versions WHERE link IS NULL AND sha256 IS NULL) AS unsent`) as { journal: boolean; unsent: boolean }[];
          if (left?.journal) throw notInObjectStore(directory, content);
          if (left?.unsent) return { unsent: true };
          await tx`UPDATE server SET content = ${content}`;
          await tx`INSERT INTO nodes (node, placed) VALUES (${node}, ${head}) ON CONFLICT (node) DO NOTHING`;
        } else if (bound === null) {
          await tx`UPDATE server SET content = ${content}`;
        } else if (bound !== content) {
          throw contentElsewhere(bound, content);
        }
        const [mine] = (await tx`SELECT placed FROM nodes WHERE node = ${node}`) as { placed: string }[];
        if (mine) return { placed: Number(mine.placed) };
        if (head > 0) return { joinAt: head }; // a node new to a table with rows: it places them first
        await tx`INSERT INTO nodes (node, placed) VALUES (${node}, 0)`;
        return { placed: 0 };
      });
    },
    unsentContent: async () =>
      (
        (await sql`SELECT path, rev, size, md5, false AS version FROM files WHERE NOT deleted AND link IS NULL AND sha256 IS NULL
          UNION ALL SELECT path, rev, size, md5, true FROM versions WHERE link IS NULL AND sha256 IS NULL ORDER BY path, rev`) as {
          path: string;
          rev: string;
          size: string;
          md5: string;
          version: boolean;
        }[]
      ).map((r) => ({ ...r, rev: Number(r.rev), size: Number(r.size) })),
    recordBlobs: async (blobs) => {
      if (blobs.length === 0) return;
      const rows = blobs.map((b) => ({ path: b.path, rev: b.rev, sha256: b.sha256 }));
      await sql.begin(async (tx) => {
        for (const table of ["files", "changes", "versions"])
          await tx.unsafe(
            `UPDATE ${table} t SET sha256 = b.sha256 FROM jsonb_to_recordset($1::jsonb) AS b(path text, rev bigint, sha256 text)
             WHERE t.path = b.path AND t.rev = b.rev AND t.sha256 IS NULL AND t.link IS NULL`,
            [rows],
          );
      });
    },
    joined: async (rev) => {
      await sql`INSERT INTO nodes (node, placed) VALUES (${node}, ${rev}) ON CONFLICT (node) DO UPDATE SET placed = GREATEST(nodes.placed, excluded.placed)`;
    },
    liveContent: async () =>
      (
        (await sql`SELECT path, rev, mode, size, link, sha256 FROM files WHERE NOT deleted ORDER BY path`) as {
          path: string;
          rev: string;
          mode: number;
          size: string;
          link: string | null;
          sha256: string | null;
        }[]
      ).map((r) => ({ ...r, rev: Number(r.rev), size: Number(r.size) })),
    contentOf: async (paths) =>
      paths.length === 0
        ? []
        : (
            (await sql`SELECT path, size, link, sha256 FROM files WHERE NOT deleted AND path = ANY(${paths}::text[])`) as {
              path: string;
              size: string;
              link: string | null;
              sha256: string | null;
            }[]
          ).map((r) => ({ ...r, size: Number(r.size) })),
  };
}

/** What revision `rev` changes in the store, with the content each write names. */
async function _work(t: PgTable, rev: number): Promise<RevisionWork> {
  const [changes, keep] = (await Promise.all([
    t.sql`SELECT path, action, mode, link, size, sha256 FROM changes WHERE rev = ${rev} ORDER BY path`,
    t.sql`SELECT path, rev FROM versions WHERE replaced_by = ${rev} ORDER BY path`,
  ])) as [(Omit<RevisionWork["changes"][number], "size"> & { size: string })[], { path: string; rev: string }[]];
  return { changes: changes.map((c) => ({ ...c, size: Number(c.size) })), keep: keep.map((k) => ({ path: k.path, rev: Number(k.rev) })) };
}
