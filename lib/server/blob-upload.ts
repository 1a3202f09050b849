import { SocError } from "../shared/errors.ts";
import { eachInParallel } from "../shared/batches.ts";
import type { CommitProgress } from "../shared/protocol.ts";
import { BLOB_TRANSFERS, type BlobStore } from "./s3-blobs.ts";
import type { TablePort } from "./table-port.ts";

/** How long a push waits for a garbage collection to finish deleting content it holds too, in ms. */
const BUSY_WAIT_MS = 60_000;

/**
 * A push's blobs into the object store, before its commit: claims every content its staged
 * `files` hold (waiting while a garbage collection deletes one of them), then uploads those the
 * store lacks, each content once, BLOB_TRANSFERS at a time. `sha256s` are the files' sha256, in their order.
 * The claims hold until abandonPush drops them. Throws SocError "content_busy" (503) when a
 * collection keeps a content for over a minute, and "object_store" (503) when an upload fails.
 */
export async function uploadBlobs(
  deps: { table: TablePort; blobs: BlobStore; now: () => number },
  stage: string,
  files: readonly string[],
  upserts: readonly { size: number }[],
  sha256s: readonly string[],
  onProgress?: (p: CommitProgress) => void,
): Promise<void> {
  const unique = new Map<string, { file: string; size: number }>();
  sha256s.forEach((key, i) => unique.set(key, { file: files[i] as string, size: (upserts[i] as { size: number }).size }));
  if (unique.size === 0) return;
  await _claim(deps, [...unique.keys()], stage);
  const todo = [...unique];
  let done = 0;
  onProgress?.({ step: "uploading", done: 0, total: todo.length });
  try {
    await eachInParallel(todo, BLOB_TRANSFERS, async ([key, { file, size }]) => {
      await deps.blobs.put(file, key, size);
      onProgress?.({ step: "uploading", done: ++done, total: todo.length });
    });
  } catch (why) {
    // The store's own words (its name and S3's error code, never a key): the client can only try again later.
    const what = why instanceof Error ? why.message : String(why);
    throw new SocError("object_store", `the server could not put this push's content in its object store (${what}); push again later`, {
      status: 503,
    });
  }
}

// ---------------------------------------------------------------------------

async function _claim(deps: { table: TablePort; now: () => number }, keys: string[], stage: string): Promise<void> {
  const until = performance.now() + BUSY_WAIT_MS;
  for (let left = keys; ;) {
    left = await deps.table.blobs.claim(left, stage, deps.now());
    if (left.length === 0) return;
    if (performance.now() > until) {
      throw new SocError("content_busy", `the server is still deleting ${left.length} unused content(s) this push holds too; push again`, {
        status: 503,
      });
    }
    await Bun.sleep(250);
  }
}
