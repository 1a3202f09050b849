import { lstatSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { BadInputError, SocError } from "../shared/errors.ts";
import { removeStale } from "../shared/fs.ts";
import type { BlobCache } from "./blob-cache.ts";
import { eachInParallel } from "../shared/batches.ts";
import { BLOB_TRANSFERS } from "./s3-blobs.ts";
import { newSessionId, sessionDir } from "./stage.ts";
import { resolveIn, type Store } from "./store.ts";
import type { TablePort } from "./table-port.ts";

// A node with a cache (--cache) holds no tree for rsync to read: each pull gets a view, a
// directory of its own holding hard links to the cached content of the paths it asks for, and
// each push a basis built the same way (its --copy-dest). Both go when their session ends.

/** How long a view nobody ended is kept before openView sweeps it, in ms. */
export const VIEW_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** Makes a fresh, empty view; first sweeps views older than VIEW_MAX_AGE_MS. */
export function openView(store: Store, nowMs: number = Date.now()): { id: string; path: string } {
  _sweepViews(store, nowMs);
  const id = newSessionId(store);
  const path = _viewPath(store, id);
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return { id, path };
}

/** The absolute path of view `id`; SocError "wrong_node" (421) when another server made it, BadInputError "no_view" when it is unknown. */
export function viewDir(store: Store, id: string): string {
  return sessionDir(store, "view", id, _viewPath(store, id), () => {
    throw new BadInputError(`unknown view ${JSON.stringify(id)} (expired or already ended); pull again`, "no_view");
  });
}

/** Removes view `id` and the links it holds, best effort (the sweep tries again). */
export function closeView(store: Store, id: string): void {
  try {
    rmSync(viewDir(store, id), { recursive: true, force: true });
  } catch {
    // unknown, or left for _sweepViews
  }
}

/**
 * Puts in `dir` (a view or a basis) a hard link to the current content of each of `paths` that
 * the table holds as a regular file, from the cache (fetched into it when missing). Paths the
 * table does not hold, deleted ones and symlinks are left out: a symlink travels in its row.
 * Returns how many files it linked. BadInputError for a path that is not a repository path;
 * SocError "content_unavailable" (503) naming a path whose content cannot be fetched.
 */
export async function linkContent(table: TablePort, cache: BlobCache, dir: string, paths: readonly string[]): Promise<number> {
  const checked = new Set<string>();
  const targets = new Map(paths.map((p) => [p, resolveIn(dir, p, checked)]));
  const cluster = table.cluster;
  if (!cluster) throw new Error("linkContent: this server is no node of a cluster");
  const rows = (await cluster.contentOf([...targets.keys()])).filter((r) => r.link === null);
  await eachInParallel(rows, BLOB_TRANSFERS, async (r) => {
    if (r.sha256 === null) throw new Error(`${JSON.stringify(r.path)}'s row names no blob`);
    const to = targets.get(r.path) as string;
    const parent = dirname(to);
    if (!lstatSync(parent, { throwIfNoEntry: false })?.isDirectory()) mkdirSync(parent, { recursive: true });
    await cache.linkTo(r.sha256, r.size, to).catch((error: unknown) => {
      const why = error instanceof Error ? error.message : String(error);
      throw new SocError("content_unavailable", `cannot get the content of ${JSON.stringify(r.path)} into this server's cache: ${why}`, {
        status: 503,
      });
    });
  });
  return rows.length;
}

// ---------------------------------------------------------------------------

function _viewPath(store: Store, id: string): string {
  return join(store.stateDir, "view", id);
}

function _sweepViews(store: Store, nowMs: number): void {
  removeStale(join(store.stateDir, "view"), nowMs - VIEW_MAX_AGE_MS);
}
