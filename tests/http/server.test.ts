import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SERVER = join(import.meta.dir, "../../server.ts");

/** Runs server.ts with `args`; resolves once it prints its listening line. Dispose sends SIGKILL if still up. */
async function startServer(args: string[], env: Record<string, string> = {}) {
  const { SOC_TOKEN: _, ...inherited } = process.env;
  const proc = Bun.spawn(["bun", "run", SERVER, ...args], { stdout: "pipe", stderr: "pipe", env: { ...inherited, ...env } });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) break;
    out += new TextDecoder().decode(chunk.value);
  }
  reader.releaseLock();
  return {
    proc,
    line: out.trim(),
    url: out.trim().replace(/^soc server listening on /, ""),
    [Symbol.dispose]() {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), "soc-server-"));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

describe("server.ts", () => {
  test("listens on port 0, answers, refuses huge bodies with 413, logs requests, stops on SIGTERM", async () => {
    await using dir = await tempDir();
    using server = await startServer(["--store", join(dir.path, "store"), "--port", "0"]);
    expect(server.line).toMatch(/^soc server listening on http:\/\/127\.0\.0\.1:[1-9][0-9]*$/);

    const health = await fetch(`${server.url}/v1/health?probe=1`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });

    const huge = new Uint8Array(65 * 1024 * 1024);
    const big = await fetch(`${server.url}/v1/push/begin`, { method: "POST", headers: { "content-type": "application/json" }, body: huge });
    expect(big.status).toBe(413);

    server.proc.kill("SIGTERM");
    const stderr = await new Response(server.proc.stderr).text();
    expect(await server.proc.exited).toBe(0);
    expect(stderr).toMatch(/^GET \/v1\/health 200 [0-9.]+ms$/m);
    expect(stderr).not.toContain("probe");
  });

  test("with a token, routes need it and it never reaches the log", async () => {
    await using dir = await tempDir();
    using server = await startServer(["--store", join(dir.path, "store"), "--port", "0"], { SOC_TOKEN: "tok-123" });
    expect((await fetch(`${server.url}/v1/info`)).status).toBe(401);
    const ok = await fetch(`${server.url}/v1/info`, { headers: { authorization: "Bearer tok-123" } });
    expect(await ok.json()).toMatchObject({ api: 1, revision: 0, store: join(dir.path, "store") });
    server.proc.kill("SIGINT");
    const stderr = await new Response(server.proc.stderr).text();
    expect(await server.proc.exited).toBe(0);
    expect(stderr).toContain("GET /v1/info 401");
    expect(stderr).not.toContain("tok-123");
  });

  test("a usage error prints a message and exits 2", async () => {
    const proc = Bun.spawn(["bun", "run", SERVER, "--port", "0"], { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text()];
    expect(stdout).toBe("");
    expect(stderr).toBe("soc server: --store DIR is required\n");
    expect(await proc.exited).toBe(2);
  });
});
