import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeHarness } from "../_harness/app.ts";

// The routes on a node with a cache run in tests/e2e/cluster.test.ts (real PostgreSQL and RGW).
describe("POST /v1/view/* and /v1/push/basis on a server that keeps its tree", () => {
  test("answer 409 no_views, pointing at the store, and make nothing", async () => {
    await using h = await makeHarness();
    const view = "0".repeat(32);
    for (const [path, body] of [
      ["/v1/view/begin", {}],
      ["/v1/view/part", { view, paths: ["a"] }],
      ["/v1/push/basis", { stage: view, paths: ["a"] }],
    ] as const) {
      const res = await h.call("POST", path, body);
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({
        error: { code: "no_views", message: "this server keeps its whole tree in its store: rsync reads it there (GET /v1/info's store)" },
      });
    }
    expect(await (await h.call("GET", "/v1/info")).json()).not.toHaveProperty("views");
    expect(["view", "basis"].filter((dir) => existsSync(join(h.store.stateDir, dir)))).toEqual([]);
  });

  test("a part naming too many paths, or a malformed view id, is refused (400)", async () => {
    await using h = await makeHarness();
    const view = "0".repeat(32);
    expect((await h.call("POST", "/v1/view/part", { view, paths: Array.from({ length: 2001 }, (_, i) => `p${i}`) })).status).toBe(400);
    expect((await h.call("POST", "/v1/view/part", { view: "nope", paths: [] })).status).toBe(400);
  });
});
