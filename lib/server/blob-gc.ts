import type { BlobStore } from "./s3-blobs.ts";
import type { TablePort } from "./table-port.ts";

/** How long an unreferenced blob is left in the object store when no --blob-grace-hours is given. */
export const DEFAULT_BLOB_GRACE_HOURS = 24;

/** How many blobs a collection marks in one step of the table (each step holds the commits' lock). */
const MARK_BATCH = 1000;

/**
 * One garbage collection of the object store (on the leader only): first finishes the deletions
 * a collection cut short left marked; then marks, in the table, the blobs older than `graceMs`
 * that no row points at and no push has claimed within `graceMs` (a push claims its blobs before
 * it uploads them, and drops the claim once its commit's rows hold them), deletes them, and unmarks
 * them. A push never counts on a marked blob (its claim step says so), so nothing a row will point
 * at is deleted; an upload whose push died (kill -9 before its commit) goes once its claim is
 * older than `graceMs`. Returns how many blobs it deleted.
 */
export async function collectBlobs(table: TablePort, blobs: BlobStore, opts: { nowMs: number; graceMs: number }): Promise<number> {
  let deleted = await _deleteMarked(table, blobs, await table.blobs.marked());
  const cutoff = opts.nowMs - opts.graceMs;
  let batch: string[] = [];
  const flush = async () => {
    const marked = await table.blobs.markGarbage(batch, cutoff);
    batch = [];
    deleted += await _deleteMarked(table, blobs, marked);
  };
  for await (const blob of blobs.list()) {
    if (blob.lastModified.getTime() >= cutoff) continue;
    batch.push(blob.sha256);
    if (batch.length >= MARK_BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  return deleted;
}

// ---------------------------------------------------------------------------

async function _deleteMarked(table: TablePort, blobs: BlobStore, marked: readonly string[]): Promise<number> {
  for (const key of marked) await blobs.delete(key);
  if (marked.length > 0) await table.blobs.unmark(marked);
  return marked.length;
}
