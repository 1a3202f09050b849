import { afterAll, beforeAll, describe } from "bun:test";
import { startPostgres, type TestPostgres } from "./postgres.ts";

/** One table engine under test: the server flags that give a server a table of its own in it. */
export interface TableUnderTest {
  name: "sqlite" | "postgres";
  /** Flags for startServer: none for SQLite (its file in the server's state dir); a new database of the cluster for PostgreSQL. */
  serverArgs(): Promise<string[]>;
}

/**
 * Defines the suite in `body` once per table engine, each in a describe of its own: SQLite as
 * the server makes it by default, and PostgreSQL in a throwaway cluster started before the
 * suite and stopped after it, with a fresh database for each server that asks.
 */
export function overEveryTable(body: (t: TableUnderTest) => void): void {
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
}
