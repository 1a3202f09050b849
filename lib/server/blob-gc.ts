import { SocError } from "../shared/errors.ts";
import { eachInParallel } from "../shared/batches.ts";
import { BLOB_TRANSFERS, type BlobStore } from "./s3-blobs.ts";
import type { TablePort } from "./table-port.ts";

/** How long an unreferenced blob is left in the object store when no --blob-grace-hours is given. */
export const DEFAULT_BLOB_GRACE_HOURS = 24;

/** How many blobs a collection marks in one step of the table (each step holds the commits' lock). */
const MARK_BATCH = 200;
/**
 * How long a collection owns its marks: it deletes none it marked longer ago than half of this,
 * and another collection takes over only marks older than this (a collector stalled or killed).
 */
export const MARK_LEASE_MS = 60 * 60 * 1000;

/** A collection of the object store's garbage; one runs at a time per server (`collect` returns the one under way). */
export interface BlobCollector {
  /**
   * One collection (on the leader only): takes over the marks a collection cut short left more
   * than MARK_LEASE_MS ago and deletes those blobs; then, batch by batch, marks in the table the
   * blobs older than `graceMs` that no row points at and no push has claimed within `graceMs`,
   * deletes them, and unmarks them. A push never counts on a marked blob (its claim says so), and
   * a commit naming a blob no claim or row holds fails (blobsGone), so nothing a row points at is
   * deleted. Returns how many blobs it deleted; throws the first failure, unmarking what it did not delete.
   */
  collect(opts: { nowMs: number; graceMs: number }): Promise<number>;
}

/**
 * A bucket (and prefix) holds one database's content: the first server to use it writes the
 * database's id there; a server of another database refuses it with SocError
 * "content_elsewhere", since each would collect the other's blobs as garbage.
 */
export async function ownBucket(blobs: BlobStore, databaseId: string): Promise<void> {
  const owner = await blobs.owner();
  if (owner === undefined) return blobs.setOwner(databaseId);
  if (owner !== databaseId) {
    throw new SocError(
      "content_elsewhere",
      `${blobs.name} holds the content of another database (${owner}, not ${databaseId}): give each database a bucket or prefix of its own`,
    );
  }
}

/** A collector of `blobs` over `table`'s claims and marks; `lead` says whether this server may collect now. */
export function createBlobCollector(table: TablePort, blobs: BlobStore, lead: () => Promise<boolean>): BlobCollector {
  let running: Promise<number> | undefined;
  return {
    collect(opts) {
      running ??= _collect(table, blobs, lead, opts).finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

// ---------------------------------------------------------------------------

async function _collect(table: TablePort, blobs: BlobStore, lead: () => Promise<boolean>, opts: { nowMs: number; graceMs: number }): Promise<number> {
  const owner = crypto.randomUUID();
  const started = performance.now();
  // Stop before this run's marks could be taken over: deleting a blob a later push uploaded again would lose it.
  const inLease = async () => performance.now() - started < MARK_LEASE_MS / 2 && (await lead());
  let deleted = await _delete(table, blobs, await table.blobs.takeOverMarks(owner, opts.nowMs - MARK_LEASE_MS, opts.nowMs));
  const cutoff = opts.nowMs - opts.graceMs;
  let batch: string[] = [];
  const flush = async () => {
    const marked = await table.blobs.markGarbage(batch, cutoff, owner, opts.nowMs + (performance.now() - started));
    batch = [];
    deleted += await _delete(table, blobs, marked);
  };
  for await (const blob of blobs.list()) {
    if (blob.lastModified.getTime() >= cutoff) continue;
    batch.push(blob.sha256);
    if (batch.length < MARK_BATCH) continue;
    if (!(await inLease())) return deleted;
    await flush();
  }
  if (batch.length > 0 && (await inLease())) await flush();
  return deleted;
}

/** Deletes the blobs `marked`, BLOB_TRANSFERS at a time, then unmarks them all; a failed deletion stops it, after unmarking. */
async function _delete(table: TablePort, blobs: BlobStore, marked: readonly string[]): Promise<number> {
  try {
    await eachInParallel(marked, BLOB_TRANSFERS, (key) => blobs.delete(key));
  } finally {
    // Unmarked whether or not it went: a push that wants one of them finds out by asking the store.
    if (marked.length > 0) await table.blobs.unmark(marked);
  }
  return marked.length;
}
