import type { Database } from "bun:sqlite";
import type { FileRow } from "../shared/protocol.ts";

/** A file's content and metadata as the table records it. */
export interface FileContent {
  path: string;
  size: number;
  md5: string;
  mode: number;
  /** Nanoseconds since the epoch, decimal. */
  mtimeNs: string;
  /** A symlink's target. */
  link?: string;
  /** The sha256 of the bytes, when the server keeps its content in an object store (its key there). */
  sha256?: string;
}

/** Everything one new revision changes in the rows (roots aside). */
export interface RevisionWrite {
  rev: number;
  nowMs: number;
  client: string;
  /** Content this revision makes current. */
  writes: readonly FileContent[];
  /** Live paths this revision deletes. */
  deletes: readonly string[];
  /** The live rows (before this revision) of every path it writes over or deletes. */
  replaced: readonly FileRow[];
  /** Record the replaced rows as versions (their files are kept in the versions area). */
  keepVersions: boolean;
}

/**
 * Writes one revision's rows inside the caller's transaction: files (upserts, tombstones), a
 * changes row per path, a versions row per replaced file when keeping them, and the revision.
 */
export function writeRevision(db: Database, w: RevisionWrite): { added: number; modified: number; deleted: number } {
  const { rev } = w;
  const was = new Map(w.replaced.map((r) => [r.path, r]));
  if (w.keepVersions) {
    // From the rows themselves, before they change: a version keeps every column of the content it was.
    const version = db.query(`INSERT OR REPLACE INTO versions (path, rev, replaced_by, replaced_at_ms, size, md5, mode, mtime_ns, link, sha256)
       SELECT path, rev, $by, $at, size, md5, mode, mtime_ns, link, sha256 FROM files WHERE path = $path AND deleted = 0`);
    for (const r of w.replaced) version.run({ path: r.path, by: rev, at: w.nowMs });
  }
  const tombstone = db.query(
    `UPDATE files SET deleted = 1, size = 0, md5 = '', mtime_ns = 0, rev = $rev, link = NULL, sha256 = NULL WHERE path = $path`,
  );
  const upsert = db.query(`INSERT INTO files (path, size, mtime_ns, md5, mode, rev, deleted, link, sha256)
     VALUES ($path, $size, $mtime, $md5, $mode, $rev, 0, $link, $sha256) ON CONFLICT (path)
     DO UPDATE SET size = $size, mtime_ns = $mtime, md5 = $md5, mode = $mode, rev = $rev, deleted = 0, link = $link, sha256 = $sha256`);
  const change = db.query(`INSERT INTO changes (path, rev, action, size, md5, mode, mtime_ns, link, sha256)
     VALUES ($path, $rev, $action, $size, $md5, $mode, $mtime, $link, $sha256)`);
  for (const path of w.deletes) {
    tombstone.run({ rev, path });
    change.run({ path, rev, action: "deleted", size: 0, md5: "", mode: was.get(path)?.mode ?? 0, mtime: 0, link: null, sha256: null });
  }
  let modified = 0;
  for (const f of w.writes) {
    const row = {
      path: f.path,
      size: f.size,
      md5: f.md5,
      mode: f.mode,
      mtime: BigInt(f.mtimeNs),
      rev,
      link: f.link ?? null,
      sha256: f.sha256 ?? null,
    };
    upsert.run(row);
    change.run({ ...row, action: was.has(f.path) ? "modified" : "added" });
    if (was.has(f.path)) modified++;
  }
  const counts = { added: w.writes.length - modified, modified, deleted: w.deletes.length };
  db.query(
    `INSERT INTO revisions (rev, at_ms, client, added, modified, deleted)
     VALUES ($rev, $at, $client, $added, $modified, $deleted)`,
  ).run({ rev, at: w.nowMs, client: w.client, ...counts });
  return counts;
}
