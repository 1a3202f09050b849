import { describe, expect, test } from "bun:test";
import { makeHarness } from "../_harness/app.ts";

describe("GET /v1/health", () => {
  test("answers ok without auth, even when a token is configured", async () => {
    await using h = await makeHarness("s3cret");
    const res = await h.call("GET", "/v1/health", undefined, {});
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  test("unknown routes get 404 in the error shape", async () => {
    await using h = await makeHarness();
    const res = await h.call("GET", "/v1/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: "not_found", message: "no such route" } });
  });
});
