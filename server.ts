import { SocError, EXIT } from "./lib/shared/errors.ts";
import { readServerConfig, SERVER_USAGE } from "./lib/server/config.ts";
import { createFailpoint } from "./lib/server/failpoint.ts";
import { replayJournalAtStart } from "./lib/server/journal.ts";
import { openStore } from "./lib/server/store.ts";
import { isPostgresUrl, openTablePort } from "./lib/server/open-table.ts";
import { joinCluster } from "./lib/server/cluster.ts";
import { importSqliteTable } from "./lib/server/pg-import.ts";
import { openPgTable } from "./lib/server/pg-table.ts";
import { createAnnouncer } from "./lib/server/announcer.ts";
import { sweepVersions, SWEEP_EVERY_MS } from "./lib/server/versions.ts";
import { createBlobCollector, ownBucket } from "./lib/server/blob-gc.ts";
import { openBlobStore } from "./lib/server/s3-blobs.ts";
import { openBlobCache } from "./lib/server/blob-cache.ts";
import { websocket } from "elysia/ws";
import { createApp } from "./handlers/index.ts";
import { boundedBody } from "./handlers/uploads.ts";
import pkg from "./package.json" with { type: "json" };

const HOUR_MS = 60 * 60 * 1000;

/** Starts the soc server: reads config, opens state, listens until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = readServerConfig(Bun.argv.slice(2), process.env);
  if (config.help) {
    console.log(SERVER_USAGE);
    return;
  }
  if (config.importFrom !== undefined) return importTable(config.database, config.importFrom);
  const store = openStore(config.store, { stateDir: config.stateDir, cache: config.cacheBytes !== undefined });
  const blobs = config.content && openBlobStore(config.content);
  // A node with a cache: its directory is checked before the node joins.
  const cache = blobs && config.cacheBytes !== undefined ? openBlobCache(store.root, blobs, config.cacheBytes) : undefined;
  // PostgreSQL and an object store: this server is one node of a cluster, however many there are.
  const clustered = blobs !== undefined && isPostgresUrl(config.database);
  const table = await openTablePort(config.database, clustered ? { node: store.id } : {});
  const log = (line: string) => console.error(`soc server: ${line}`);
  if (blobs) await ownBucket(blobs, table.id);
  if (clustered) await joinCluster({ table, store, blobs, log });
  else await table.bindContent(`the directory store ${store.id}`);
  const failpoint = config.failpoint && createFailpoint(config.failpoint);
  // A commit cut short by a crash (and, for a node, what others committed) is placed before anyone can read the store.
  await replayJournalAtStart({ table, store, failpoint, log, ...(blobs ? { blobs } : {}) });
  const announcer = createAnnouncer(() => table.knownHead());
  const app = createApp({
    table,
    announcer,
    store,
    ...(config.content ? { content: config.content } : {}),
    ...(cache ? { cache } : {}),
    token: config.token,
    insecure: config.insecure,
    version: pkg.version,
    keepDays: config.keepDays,
    maxRsyncSessions: config.maxRsyncSessions,
    onInternalError: (error) => console.error("soc server: internal error:", error),
    log,
    failpoint,
  });
  const server = Bun.serve({
    hostname: config.host,
    port: config.port,
    // Uploads (the http transport) stream bodies of any size; app and boundedBody bound the others.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Elysia's dispatcher: each upgraded socket carries its route's handlers (the rsync tunnel).
    // Its types predate Bun's current ServerWebSocket; the runtime shape is the same.
    websocket: websocket as unknown as Bun.WebSocketHandler<unknown>,
    async fetch(request) {
      const started = performance.now();
      const response = await app.handle(boundedBody(request));
      // Method, path (no query) and status only: headers carry the token.
      const ms = (performance.now() - started).toFixed(1);
      process.stderr.write(`${request.method} ${new URL(request.url).pathname} ${response.status} ${ms}ms\n`);
      return response;
    },
  });
  // Elysia upgrades WebSocket routes through the server it is given.
  app.server = server;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  console.log(`soc server listening on http://${host}:${server.port}`);
  // Expired versions go hourly even when no push comes to trigger the sweep, on one server of
  // those sharing a table; unref: never keeps us alive.
  const collector = blobs && createBlobCollector(table, blobs, () => table.lead());
  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return; // one at a time: the last one is still going
    sweeping = true;
    try {
      if (!(await table.lead())) return;
      await sweepVersions(table, store, { nowMs: Date.now(), keepDays: config.keepDays });
      if (!collector) return;
      const deleted = await collector.collect({ nowMs: Date.now(), graceMs: config.blobGraceHours * HOUR_MS });
      log(`garbage collection: deleted ${deleted} blob${deleted === 1 ? "" : "s"} no row or push needs`);
    } catch (error) {
      log(`sweeping old versions and content failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      sweeping = false;
    }
  };
  const sweeper = setInterval(sweep, SWEEP_EVERY_MS).unref();
  void sweep(); // once at start too: what a crash or a restart left behind goes then
  const stop = async () => {
    clearInterval(sweeper);
    announcer[Symbol.dispose](); // held long polls are answered now, not when their wait ends
    await server.stop();
    await table.close();
    process.exit(EXIT.ok);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/** server.ts --import: copies the SQLite table into PostgreSQL, says what it did, and ends. */
async function importTable(url: string, file: string): Promise<void> {
  await using t = await openPgTable(url);
  const { revision, files, versions } = await importSqliteTable(t, file);
  console.log(`imported revision ${revision} (${files} file rows, ${versions} kept versions) from ${file}; start the server without --import`);
}

try {
  await main();
} catch (error) {
  const usage = error instanceof SocError && error.exitCode === EXIT.usage;
  console.error(`soc server: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(usage ? EXIT.usage : EXIT.error);
}
