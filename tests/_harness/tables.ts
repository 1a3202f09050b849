import { afterAll, beforeAll, describe } from "bun:test";
import { startRgw, type TestRgw } from "./ceph-rgw.ts";
import { startPostgres, type TestPostgres } from "./postgres.ts";

/** One table engine under test: the server flags that give a server a table of its own in it. */
export interface TableUnderTest {
  name: "sqlite" | "postgres" | "postgres+s3";
  /** Flags for startServer: none for SQLite (its file in the server's state dir); a new database of the cluster for PostgreSQL. */
  serverArgs(): Promise<string[]>;
}

/**
 * Defines the suite in `body` once per table engine, each in a describe of its own: SQLite as
 * the server makes it by default, and PostgreSQL in a throwaway cluster started before the
 * suite and stopped after it, with a fresh database for each server that asks. With
 * `objectStore`, once more with PostgreSQL and a bucket of a throwaway Ceph RGW: each server is
 * then a node of a cluster of its own (its content in the bucket, versions as rows naming blobs).
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
  if (opts.objectStore) describe("table in postgres, content in S3", () => _overPostgresAndS3(body));
}

function _overPostgresAndS3(body: (t: TableUnderTest) => void): void {
  let engines: [TestPostgres, TestRgw] | undefined;
  let servers = 0;
  const S3_ENV = ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_REGION"] as const;
  beforeAll(async () => {
    const [pg, rgw] = await Promise.allSettled([startPostgres(), startRgw()]);
    if (pg.status === "rejected" || rgw.status === "rejected") {
      await Promise.all([pg, rgw].map((r) => (r.status === "fulfilled" ? r.value[Symbol.asyncDispose]() : undefined)));
      throw pg.status === "rejected" ? pg.reason : (rgw as PromiseRejectedResult).reason;
    }
    engines = [pg.value, rgw.value];
    // The servers read the bucket's endpoint and keys from S3_*, as a user's do (startServer passes this process's environment).
    const { endpoint, accessKeyId, secretAccessKey, region } = rgw.value;
    Object.assign(process.env, { S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: accessKeyId, S3_SECRET_ACCESS_KEY: secretAccessKey, S3_REGION: region });
  }, 300_000);
  afterAll(async () => {
    for (const name of S3_ENV) delete process.env[name];
    await Promise.all((engines ?? []).map((e) => e[Symbol.asyncDispose]()));
  });
  body({
    name: "postgres+s3",
    serverArgs: async () => {
      if (!engines) throw new Error("PostgreSQL or the RGW did not start");
      const n = ++servers;
      const [database, bucket] = await Promise.all([engines[0].createDatabase(`soc_s3_${n}`), engines[1].createBucket(`soc-table-${n}`)]);
      return ["--database", database, "--content", `s3://${bucket}`];
    },
  });
}
