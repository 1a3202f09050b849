import { lstatSync } from "node:fs";
import { NotFoundError } from "../shared/errors.ts";
import { checkRepoPath } from "../shared/paths.ts";
import type { Log, PathChange, RevisionEntry } from "../shared/protocol.ts";
import type { FileContent } from "./revision.ts";
import { resolveIn, type Store } from "./store.ts";
import type { TablePort } from "./table-port.ts";
import type { Table } from "./table.ts";
import { versionFile } from "./versions.ts";

/** Entries GET /v1/log returns when no limit is given. */
export const DEFAULT_LOG_LIMIT = 100;

/** A path's content as of some revision, and the file on the server holding its bytes. */
export interface ContentAt extends FileContent {
  /** The revision that wrote this content. */
  rev: number;
  /** Absolute path of the bytes: the store file when current, else the kept version; none for a symlink, nor for old content a node of a cluster reads from its blob. */
  file?: string;
  current: boolean;
}

/**
 * SQLite's (sqlite-port.ts) log: the revisions newest first (at most `limit`); with `path`, only those that changed it, plus
 * its history newest first, each change marked `available` when its content can still be read.
 */
export function readLog(table: Table, opts: { path?: string; limit?: number } = {}): Log {
  const limit = opts.limit ?? DEFAULT_LOG_LIMIT;
  const { db } = table;
  return db.transaction(() => {
    if (opts.path === undefined) {
      const rows = db.query(`SELECT ${_REVISION} FROM revisions r ORDER BY rev DESC LIMIT $limit`).all({ limit });
      return { revisions: rows.map(_toRevision) };
    }
    const path = checkRepoPath(opts.path);
    const rows = db
      .query(
        `SELECT ${_REVISION}, c.action, c.size AS size, c.md5,
        c.action <> 'deleted' AND (EXISTS (SELECT 1 FROM files f WHERE f.path = c.path AND f.rev = c.rev AND f.deleted = 0)
          OR EXISTS (SELECT 1 FROM versions v WHERE v.path = c.path AND v.rev = c.rev)) AS available
      FROM changes c JOIN revisions r ON r.rev = c.rev WHERE c.path = $path ORDER BY c.rev DESC LIMIT $limit`,
      )
      .all({ path, limit });
    const revisions = rows.map(_toRevision);
    const history = rows.map((raw, i): PathChange => {
      const { rev, at, client } = revisions[i] as RevisionEntry;
      const r = raw as { action: PathChange["action"]; size: number; md5: string; available: number };
      return { rev, at, client, action: r.action, size: r.size, md5: r.md5, available: r.available !== 0 };
    });
    return { revisions, path, history };
  })();
}

/**
 * The content of `path` as of revision `rev` (default: the current one): what the latest change
 * to it at or before `rev` wrote. Throws NotFoundError saying why there is none: the path never
 * existed (or not yet), was deleted, its old content expired, or its file is missing. A node of a
 * cluster keeps no version files: old content has no `file`, only its blob (`sha256`).
 */
export async function findContent(table: TablePort, store: Store, path: string, rev?: number): Promise<ContentAt> {
  checkRepoPath(path);
  const head = await table.head();
  if (rev !== undefined && rev > head) throw new NotFoundError(`revision ${rev} does not exist; the server is at revision ${head}`);
  const asOf = rev ?? head;
  const { change, firstRev, current, kept } = await table.changeAt(path, asOf);
  const name = JSON.stringify(path);
  if (!change) {
    if (firstRev === undefined) throw new NotFoundError(`${name} has never existed on the server`);
    throw new NotFoundError(`${name} did not exist yet at revision ${asOf} (added at revision ${firstRev})`);
  }
  if (change.action === "deleted") throw new NotFoundError(`${name} was deleted at revision ${change.rev}`);
  const { action: _, ...content } = change;
  const written = `the content of ${name} written at revision ${change.rev}`;
  if (!kept) throw new NotFoundError(`${written} is no longer kept (old versions expire after the server's --keep-days)`);
  if (content.link !== undefined) return { ...content, path, current }; // a symlink's target is in its row: nothing to read
  if ((!current && table.cluster) || store.cache) {
    // A node of a cluster keeps its versions in the object store only (a node with a cache, all its content): the bytes are read from there.
    if (content.sha256 === undefined) throw new NotFoundError(`${written} is not in the object store`);
    return { ...content, path, current };
  }
  const file = current ? resolveIn(store.root, path) : versionFile(store, path, change.rev);
  if (!lstatSync(file, { throwIfNoEntry: false })?.isFile()) throw new NotFoundError(`${written} is missing on the server; run verify`);
  return { ...content, path, file, current };
}

// ---------------------------------------------------------------------------

const _REVISION = "r.rev AS rev, r.at_ms AS atMs, r.client AS client, r.added AS added, r.modified AS modified, r.deleted AS deleted";

function _toRevision(raw: unknown): RevisionEntry {
  const r = raw as Omit<RevisionEntry, "at"> & { atMs: number };
  return { rev: r.rev, at: new Date(r.atMs).toISOString(), client: r.client, added: r.added, modified: r.modified, deleted: r.deleted };
}
