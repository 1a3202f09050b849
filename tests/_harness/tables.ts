import { afterAll, beforeAll, describe } from "bun:test";
import { S3_ENV, startRgw, type TestRgw } from "./ceph-rgw.ts";
import { startPostgres, type TestPostgres } from "./postgres.ts";

/** One table engine under test: the server flags that give a server a table of its own in it. */
export interface TableUnderTest {
  name: "sqlite" | "postgres" | "sqlite+s3" | "postgres+s3" | "postgres+s3, a cache";
  /** Flags for startServer: none for SQLite (its file in the server's state dir); a new database of the cluster for PostgreSQL. */
  serverArgs(): Promise<string[]>;
  /** The server keeps a cache (startServer's `cache`), not a tree: its store holds blobs, not the files. */
  cache?: true;
}

/**
 * Defines the suite in `body` once per table engine, each in a describe of its own: SQLite as
 * the server makes it by default, and PostgreSQL in a throwaway cluster started before the
 * suite and stopped after it, with a fresh database for each server that asks. With
 * `objectStore`, twice more with a bucket of a throwaway Ceph RGW for each server's content:
 * with SQLite (the bucket a second copy), and with PostgreSQL (each server then a node of a
 * cluster of its own, versions as rows naming blobs); and once more with PostgreSQL, each server
 * a node keeping a cache (--cache) instead of a tree.
 */
export function overEveryTable(body: (t: TableUnderTest) => void, opts: { objectStore?: boolean } = {}): void {
  describe("table in sqlite", () => body({ name: "sqlite", serverArgs: async () => [] }));
  describe("table in postgres", () => {
    let cluster: TestPostgres | undefined;
    let databases = 0;
    beforeAll(async () => {
      cluster = await startPostgres();
    });
    afterAll(() => cluster?.[Symbol.asyncDispose]());
    body({
      name: "postgres",
      serverArgs: async () => {
        if (!cluster) throw new Error("the PostgreSQL cluster did not start");
        return ["--database", await cluster.createDatabase(`soc_${++databases}`)];
      },
    });
  });
  if (!opts.objectStore) return;
  describe("table in sqlite, content in S3", () => _overS3(body, { postgres: false }));
  describe("table in postgres, content in S3", () => _overS3(body, { postgres: true }));
  describe("table in postgres, content in S3, the server a node with a cache", () => _overS3(body, { postgres: true, cache: true }));
}

/** The servers' content in a bucket of a throwaway RGW: a second copy beside the store directory (SQLite), or a node of a cluster (PostgreSQL). */
function _overS3(body: (t: TableUnderTest) => void, opts: { postgres: boolean; cache?: boolean }): void {
  let rgw: TestRgw | undefined;
  let pg: TestPostgres | undefined;
  let servers = 0;
  beforeAll(async () => {
    const [started, db] = await Promise.allSettled([startRgw(), opts.postgres ? startPostgres() : Promise.resolve(undefined)]);
    if (started.status === "fulfilled") rgw = started.value;
    if (db.status === "fulfilled") pg = db.value;
    if (started.status === "rejected") throw started.reason;
    if (db.status === "rejected") throw db.reason;
    // The servers read the bucket's endpoint and keys from S3_*, as a user's do (startServer passes this process's environment).
    Object.assign(process.env, started.value.env);
  }, 300_000);
  afterAll(async () => {
    for (const name of S3_ENV) delete process.env[name];
    await Promise.all([rgw?.[Symbol.asyncDispose](), pg?.[Symbol.asyncDispose]()]);
  });
  body({
    name: opts.cache ? "postgres+s3, a cache" : opts.postgres ? "postgres+s3" : "sqlite+s3",
    ...(opts.cache ? { cache: true as const } : {}),
    serverArgs: async () => {
      if (!rgw || (opts.postgres && !pg)) throw new Error("the RGW (or PostgreSQL) did not start");
      const n = ++servers;
      const bucket = await rgw.createBucket(`soc-table-${n}`);
      return [...(pg ? ["--database", await pg.createDatabase(`soc_s3_${n}`)] : []), "--content", `s3://${bucket}`];
    },
  });
}
