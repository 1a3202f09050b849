import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { databaseId, openTable } from "../../lib/server/table.ts";
import { makeHarness } from "../_harness/app.ts";

describe("GET /v1/info", () => {
  test("reports version, API, revision, the database id, transports and the absolute store path", async () => {
    await using h = await makeHarness();
    const res = await h.call("GET", "/v1/info");
    expect(res.status).toBe(200);
    const info = (await res.json()) as Record<string, unknown>;
    expect(info).toEqual({
      server: "9.9.9",
      api: 1,
      revision: 0,
      database: databaseId(h.table),
      transports: ["local", "tunnel", "ssh", "http"],
      store: h.store.root,
    });
    expect(info.database).toMatch(/^[0-9a-f]{32}$/);

    const { stage, upserts } = await h.stage({ "a.txt": "hello" });
    expect((await h.commit({ stage, upserts })).status).toBe(200);
    expect(await (await h.call("GET", "/v1/info")).json()).toMatchObject({ revision: 1, database: info.database });
  });

  test("the database id lives in the database: the same after a reopen, another for another database", async () => {
    await using h = await makeHarness();
    const id = databaseId(h.table);
    {
      using again = openTable(join(h.dir, "state", "soc.db"));
      expect(databaseId(again)).toBe(id);
    }
    await using other = await makeHarness();
    expect(databaseId(other.table)).not.toBe(id);
    expect(h.table.db.query("PRAGMA synchronous").get()).toEqual({ synchronous: 2 }); // FULL
  });
});
