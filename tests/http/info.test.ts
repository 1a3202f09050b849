import { describe, expect, test } from "bun:test";
import { makeHarness } from "../_harness/app.ts";

describe("GET /v1/info", () => {
  test("reports version, API, revision, transports and the absolute store path", async () => {
    await using h = await makeHarness();
    const res = await h.call("GET", "/v1/info");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ server: "9.9.9", api: 1, revision: 0, transports: ["local", "tunnel", "ssh"], store: h.store.root });

    const { stage, upserts } = await h.stage({ "a.txt": "hello" });
    expect((await h.commit({ stage, upserts })).status).toBe(200);
    expect(await (await h.call("GET", "/v1/info")).json()).toMatchObject({ revision: 1 });
  });
});
