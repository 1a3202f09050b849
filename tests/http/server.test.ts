import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "../_harness/fs.ts";
import { run } from "../_harness/proc.ts";
import { startServer } from "../_harness/server.ts";

describe("server.ts", () => {
  test("listens on port 0, answers, refuses huge bodies with 413, logs requests, stops on SIGTERM", async () => {
    await using server = await startServer();
    expect(server.line).toMatch(/^soc server listening on http:\/\/127\.0\.0\.1:[1-9][0-9]*$/);

    const health = await fetch(`${server.url}/v1/health?probe=1`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });

    const huge = new Uint8Array(65 * 1024 * 1024);
    const big = await fetch(`${server.url}/v1/push/begin`, { method: "POST", headers: { "content-type": "application/json" }, body: huge });
    expect(big.status).toBe(413);

    const stopped = await server.stop("SIGTERM");
    expect(stopped.code).toBe(0);
    expect(stopped.log).toMatch(/^GET \/v1\/health 200 [0-9.]+ms$/m);
    expect(stopped.log).not.toContain("probe");
  });

  test("with a token, routes need it and it never reaches the log", async () => {
    await using server = await startServer({ token: "tok-123" });
    expect((await fetch(`${server.url}/v1/info`)).status).toBe(401);
    const ok = await fetch(`${server.url}/v1/info`, { headers: { authorization: "Bearer tok-123" } });
    expect(await ok.json()).toMatchObject({ api: 1, revision: 0, store: server.store });
    const stopped = await server.stop("SIGINT");
    expect(stopped.code).toBe(0);
    expect(stopped.log).toContain("GET /v1/info 401");
    expect(stopped.log).not.toContain("tok-123");
  });

  test("a usage error prints a message and exits 2", async () => {
    const res = await run(["bun", "run", join(ROOT, "server.ts"), "--port", "0"]);
    expect(res.stdout).toBe("");
    expect(res.stderr).toBe("soc server: --store DIR is required\n");
    expect(res.code).toBe(2);
  });
});
