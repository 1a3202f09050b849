import { describe, expect, test } from "bun:test";
import { randomFillSync } from "node:crypto";
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, NOBODY, runCli, runCliOnTerminal } from "../_harness/cli.ts";
import { tempDir, writeFile } from "../_harness/fs.ts";
import { openrsyncShim } from "../_harness/openrsync.ts";
import { startServer } from "../_harness/server.ts";

// A client whose rsync is Apple's openrsync, as far as a Linux machine can play it: a shim first
// on PATH (tests/_harness/openrsync.ts) with openrsync's version text, its refusal of --info, its
// untouched modes on implied directories, and protocol 29, over the real rsync.

const TOKEN = "openrsync-token";
const REAL = Bun.which("rsync") as string;

describe("a client with openrsync first on PATH", () => {
  test("push and pull through the tunnel with progress on a terminal: --progress read per file, never --info", async () => {
    using dir = tempDir();
    const shim = openrsyncShim(dir.path, REAL);
    const env = { PATH: `${shim.bin}:${process.env.PATH}` };
    await using server = await startServer({ token: TOKEN });
    const a = join(dir.path, "a");
    writeFile(a, "d/big.bin", randomFillSync(Buffer.alloc(4 * 1024 * 1024)));
    writeFile(a, "d/small.txt", "one");
    await cli(a, ["init", server.url, "--token", TOKEN], 0, env);
    await cli(a, ["add", "-r", "d"], 0, env);
    const pushed = await runCliOnTerminal(a, ["push"], { env });
    expect(pushed.code).toBe(0);
    expect(pushed.shown).toMatch(/\rsent 4\.0 MiB in [\d.]+ s/);
    const remote = JSON.parse((await cli(a, ["remote", "--json"], 0, env)).stdout);
    expect(remote.rsync).toBe(`${shim.path} (openrsync protocol 29)`);

    const b = join(dir.path, "b");
    await cli(dir.path, ["clone", server.url, b, "--token", TOKEN], 0, env);
    writeFile(a, "d/big.bin", randomFillSync(Buffer.alloc(4 * 1024 * 1024)));
    await cli(a, ["push"], 0, env);
    const pulled = await runCliOnTerminal(b, ["pull"], { env });
    expect(pulled.code).toBe(0);
    expect(pulled.shown).toMatch(/\rreceived 4\.0 MiB in [\d.]+ s/);
    expect(readFileSync(join(b, "d/big.bin"))).toEqual(readFileSync(join(a, "d/big.bin")));
    expect(shim.calls().filter((argv) => argv.includes("--info"))).toEqual([]);
    expect(shim.calls().filter((argv) => argv.startsWith("--progress")).length).toBeGreaterThanOrEqual(2);
  });

  test("a read-only (555) source directory pushes to a server that does not run as root", async () => {
    using dir = tempDir();
    const shim = openrsyncShim(dir.path, REAL);
    const env = { PATH: `${shim.bin}:${process.env.PATH}` };
    await using server = await startServer({ token: TOKEN, as: NOBODY });
    const a = join(dir.path, "a");
    writeFile(a, "d/ro/deeper/f.txt", "in a read-only directory");
    await cli(a, ["init", server.url, "--token", TOKEN], 0, env);
    await cli(a, ["add", "-r", "d"], 0, env);
    chmodSync(join(a, "d/ro/deeper"), 0o555);
    chmodSync(join(a, "d/ro"), 0o555);
    try {
      await cli(a, ["push"], 0, env); // the stage's directories arrive 555 (no --chmod): the server opens them to move the files out
      const b = join(dir.path, "b");
      await cli(dir.path, ["clone", server.url, b, "--token", TOKEN], 0, env);
      expect(readFileSync(join(b, "d/ro/deeper/f.txt"), "utf8")).toBe("in a read-only directory");
      // A refused push (B got there first) leaves no stage behind, read-only directories and all.
      writeFile(b, "d/ro/deeper/f.txt", "B's edit");
      await cli(b, ["push"], 0, env);
      chmodSync(join(a, "d/ro/deeper"), 0o755);
      writeFile(a, "d/ro/deeper/f.txt", "A's edit");
      chmodSync(join(a, "d/ro/deeper"), 0o555);
      expect((await runCli(a, ["push"], env)).code).toBe(3);
      expect(readdirSync(join(server.stateDir, "stage"))).toEqual([]);
    } finally {
      chmodSync(join(a, "d/ro"), 0o755);
      chmodSync(join(a, "d/ro/deeper"), 0o755);
    }
  });
});
