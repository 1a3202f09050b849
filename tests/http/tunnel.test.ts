import { describe, expect, test } from "bun:test";
import { makeHarness } from "../_harness/app.ts";

describe("GET /v1/rsync without an upgrade", () => {
  test("is told the tunnel is a WebSocket (426) while the server has room for another rsync session", async () => {
    await using h = await makeHarness();
    const res = await h.call("GET", "/v1/rsync");
    expect([res.status, await res.json()]).toEqual([
      426,
      { error: { code: "upgrade_required", message: "GET /v1/rsync is rsync's WebSocket tunnel: connect with Upgrade: websocket" } },
    ]);
  });
});
