import { digestOrNull, md5Files, md5OfSymlink } from "../shared/hash.ts";
import { comparePaths } from "../shared/paths.ts";
import type { Verify } from "../shared/protocol.ts";
import { resolveIn, type Store } from "./store.ts";
import type { TablePort } from "./table-port.ts";
import { eachInParallel } from "../shared/batches.ts";
import { BLOB_TRANSFERS, type BlobStore } from "./s3-blobs.ts";
import type { BlobCache } from "./blob-cache.ts";

/** What a node with a cache verifies: its object store and its cache; `log` hears of damaged blobs it lets go. */
export interface CachedContent {
  blobs: BlobStore;
  cache: BlobCache;
  log?: (line: string) => void;
}

/**
 * Re-hashes every live store file (in parallel) against its row and lists those whose bytes
 * differ, sorted by path; `actual` is null when the file is missing or unreadable. A file a
 * commit replaced while it was being hashed is not reported. A node with a cache holds no tree:
 * it re-hashes its cache, and checks that the object store holds every live file's blob.
 */
export async function verifyStore(table: TablePort, store: Store, cached?: CachedContent): Promise<Verify> {
  if (store.cache) return _verifyBlobs(table, cached);
  const rows = await table.liveRows();
  const checked = new Set<string>();
  const files = rows.map((r) => _fileOf(store, r.path, checked));
  // A symlink is checked by its target, never read through.
  const sums = await md5Files(files.filter((f, i) => f !== undefined && rows[i]?.link === null) as string[]);
  let k = 0;
  const mismatches: Verify["mismatches"] = [];
  for (const [i, r] of rows.entries()) {
    const file = files[i];
    const actual = file === undefined ? null : r.link !== null ? md5OfSymlink(file) : digestOrNull(sums[k++]);
    if (actual === r.md5) continue;
    const now = await table.readRow(r.path);
    if (now && !now.deleted && now.rev === r.rev) mismatches.push({ path: r.path, expected: r.md5, actual });
  }
  mismatches.sort((a, b) => comparePaths(a.path, b.path));
  return { checked: rows.length, mismatches };
}

// ---------------------------------------------------------------------------

/** The store file for `path`, or undefined when it cannot be reached safely (a symlinked parent). */
function _fileOf(store: Store, path: string, checked: Set<string>): string | undefined {
  try {
    return resolveIn(store.root, path, checked);
  } catch {
    return undefined;
  }
}

/**
 * A node with a cache: lets go the cached blobs whose bytes are damaged (fetched again when next
 * asked for), then lists the live files whose blob the object store lacks (`actual` null), by path.
 */
async function _verifyBlobs(table: TablePort, cached: CachedContent | undefined): Promise<Verify> {
  const cluster = table.cluster;
  if (!cluster || !cached) throw new Error("verifyStore: a node with a cache needs its table's cluster rows, its object store and its cache");
  const { blobs, cache } = cached;
  const damaged = await cache.check();
  if (damaged.length > 0) {
    cached.log?.(
      `verify: let go of ${damaged.length} damaged blob${damaged.length === 1 ? "" : "s"} in the cache (${damaged.join(", ")}); fetched again when asked for`,
    );
  }
  const rows = await cluster.liveContent();
  const files = rows.filter((r) => r.link === null);
  const missing: string[] = [];
  await eachInParallel(files, BLOB_TRANSFERS, async (r) => {
    if (r.sha256 === null || !(await blobs.has(r.sha256))) missing.push(r.path);
  });
  const revOf = new Map(files.map((r) => [r.path, r.rev]));
  const mismatches: Verify["mismatches"] = [];
  for (const path of missing.sort(comparePaths)) {
    // A row a commit replaced meanwhile (its old blob let go) is not reported.
    const now = await table.readRow(path);
    if (now && !now.deleted && now.rev === revOf.get(path)) mismatches.push({ path, expected: now.md5, actual: null });
  }
  return { checked: rows.length, mismatches };
}
