import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parentDirs, syncPaths } from "../shared/fs.ts";
import { eachInParallel } from "../shared/batches.ts";
import { BLOB_TRANSFERS, type BlobStore } from "./s3-blobs.ts";
import { resolveIn, writeToStore, type Store, type StoreWrite } from "./store.ts";
import type { ClusterRows, TablePort } from "./table-port.ts";
import { versionFile } from "./versions.ts";
import { digestOrNull, md5Files } from "../shared/hash.ts";

// A node of a cluster: one of several servers sharing a PostgreSQL table and an object store,
// each with a store directory of its own that follows the table (ClusterRows in table-port.ts).

/**
 * At start, before the journal runs: binds the table to object store `blobs` (the first node, or
 * this server moving from its own store directory) and makes this server a node. A node new to a
 * table with rows first fills its store directory with every live row's content, from the
 * object store, as of the head then; the journal places what came after (a node with a cache
 * fills nothing). Returns the revision its store directory holds.
 */
export async function joinCluster(deps: { table: TablePort; store: Store; blobs: BlobStore; log?: (line: string) => void }): Promise<number> {
  const { table, store, blobs } = deps;
  const cluster = table.cluster;
  if (!cluster) throw new Error("joinCluster: the table was not opened as a node's");
  const [content, directory] = [`the object store ${blobs.name}`, `the directory store ${store.id}`];
  let joined = await cluster.join(content, directory);
  if ("unsent" in joined && store.cache) {
    throw new Error(`the table names content that is not in ${blobs.name} yet; start once with --store (the old store directory) to send it up`);
  }
  if ("unsent" in joined) {
    await _sendStore(deps);
    joined = await cluster.join(content, directory);
  }
  if ("unsent" in joined) throw new Error(`the table still names content that is not in ${blobs.name}`);
  if ("placed" in joined) return joined.placed;
  if (store.cache) {
    // Nothing to fill: a node with a cache fetches content when a session asks for it.
    await cluster.joined(joined.joinAt);
    deps.log?.(`joined the cluster at revision ${joined.joinAt}, with a cache of ${blobs.name}`);
    return joined.joinAt;
  }
  // As of the join: a row written since is placed by the journal, in order (its blob may already be let go).
  const rows = (await cluster.liveContent()).filter((r) => r.rev <= joined.joinAt);
  const dir = join(store.stateDir, "fetch", "join");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const writes: StoreWrite[] = [];
    await eachInParallel(rows, BLOB_TRANSFERS, async ({ path, mode, size, link, sha256 }, i) => {
      if (link !== null) return void writes.push({ path, mode, link });
      if (sha256 === null) throw new Error(`${JSON.stringify(path)}'s row names no blob in ${blobs.name}`);
      const from = join(dir, String(i));
      await blobs.fetch(sha256, size, from);
      writes.push({ path, mode, from, move: true });
    });
    const realDirs = new Set<string>();
    for (const w of writes) writeToStore(store, w, joined.joinAt, realDirs);
    syncPaths(
      [],
      parentDirs(
        store.root,
        writes.map((w) => join(store.root, ...w.path.split("/"))),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await cluster.joined(joined.joinAt);
  deps.log?.(`joined the cluster at revision ${joined.joinAt}: placed its ${rows.length} live files from ${blobs.name}`);
  return joined.joinAt;
}

/**
 * A server moving from its own store directory onto the object store: uploads the content of every
 * live row and kept version whose row names no blob yet, each checked against its row's md5 as it
 * is hashed, and records their sha256 in the rows. Throws naming a file that is missing or differs.
 */
async function _sendStore(deps: { table: TablePort; store: Store; blobs: BlobStore; log?: (line: string) => void }): Promise<void> {
  const { store, blobs } = deps;
  const cluster = deps.table.cluster as ClusterRows;
  const rows = await cluster.unsentContent();
  const files = rows.map((r) => (r.version ? versionFile(store, r.path, r.rev) : resolveIn(store.root, r.path)));
  const sha256s: (string | undefined)[] = [];
  const md5s = await md5Files(files, { sha256: sha256s });
  const sent: { path: string; rev: number; sha256: string }[] = [];
  await eachInParallel(rows, BLOB_TRANSFERS, async (r, i) => {
    const [md5, sha256, file] = [digestOrNull(md5s[i] ?? null), sha256s[i], files[i] as string];
    if (md5 !== r.md5 || sha256 === undefined) {
      throw new Error(
        `${file} (${JSON.stringify(r.path)} at revision ${r.rev}) is missing or differs from its row; run soc verify --server, then start again`,
      );
    }
    await blobs.put(file, sha256, r.size);
    sent.push({ path: r.path, rev: r.rev, sha256 });
  });
  await cluster.recordBlobs(sent);
  deps.log?.(`moved onto ${blobs.name}: uploaded the content of ${rows.length} rows and versions from the store directory`);
}
