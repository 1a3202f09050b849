import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, snapshot, tempDir, writeFile } from "../_harness/fs.ts";
import { freePort, isAlive, run, waitFor } from "../_harness/proc.ts";
import { startSshd } from "../_harness/sshd.ts";
import pkg from "../../package.json" with { type: "json" };

const SOC = join(ROOT, "dist/soc");
const BIG = 5100;
// The compiled soc sees a PATH holding rsync and nothing else: no bun.
const bin = tempDir("soc-deploy-bin-");
symlinkSync(Bun.which("rsync") as string, join(bin.path, "rsync"));

beforeAll(async () => {
  const { stdout, stderr, code } = await run(["make", "build"], { cwd: ROOT });
  if (code !== 0) throw new Error(`make build failed:\n${stdout}\n${stderr}`);
});
afterAll(() => bin[Symbol.dispose]());

describe("make build", () => {
  test("the binaries run without bun, with the workers inside", async () => {
    expect(Bun.which("bun", { PATH: bin.path })).toBeNull();
    expect(await run([SOC, "--version"], { cwd: ROOT, env: { PATH: bin.path } })).toEqual({ stdout: `soc ${pkg.version}\n`, stderr: "", code: 0 });
    const help = await run([join(ROOT, "dist/soc-server"), "--help"], { cwd: ROOT, env: { PATH: bin.path } });
    expect([help.code, help.stdout]).toEqual([0, expect.stringContaining("--store DIR")]);
    // lib/ starts each worker from new URL("./X.ts", import.meta.url): beside the entry, /$bunfs/root/.
    // Each binary holds the workers of its side and of lib/shared/.
    const workersIn = (...dirs: string[]) =>
      dirs
        .flatMap((dir) => readdirSync(join(ROOT, "lib", dir)).map((f) => join(ROOT, "lib", dir, f)))
        .filter((f) => f.endsWith(".ts"))
        .flatMap((f) => [...readFileSync(f, "utf8").matchAll(/new URL\("\.\/([\w-]+)\.ts", import\.meta\.url\)/g)])
        .map((m) => `/$bunfs/root/${m[1]}.js`);
    for (const [exe, workers] of [
      ["dist/soc", workersIn("shared", "client")],
      ["dist/soc-server", workersIn("shared", "server")],
    ] as const) {
      expect(workers.length).toBeGreaterThan(1);
      const bytes = Buffer.from(await Bun.file(join(ROOT, exe)).arrayBuffer());
      expect(workers.filter((w) => !bytes.includes(w))).toEqual([]);
    }
  });
});

describe("make deploy, with the throwaway sshd as the droplet", () => {
  test("first deploy prints URL and token; clients sync through it; a second deploy keeps both", async () => {
    await using sshd = await startSshd();
    using host = tempDir("soc-droplet-");
    using work = tempDir("soc-deploy-work-");
    await using _stop = _stopRecorded(host.path);
    const port = freePort();
    const deploy = () =>
      run(["bun", join(ROOT, "scripts/deploy.ts")], {
        cwd: ROOT,
        env: {
          ...process.env,
          DEPLOY_HOST: sshd.host,
          DEPLOY_DIR: host.path,
          SERVER_PORT: String(port),
          DEPLOY_SYSTEMD: "0",
          RSYNC_RSH: sshd.rsyncRsh,
        },
      });
    const url = `http://127.0.0.1:${port}`;

    const first = await deploy();
    const token = /^token: ([0-9a-f]{64}) /m.exec(first.stdout)?.[1] ?? "";
    expect([first.code, first.stdout]).toEqual([
      0,
      `soc server running at ${url}\n` +
        `token: ${token}   (shown this once; kept in ${host.path}/soc.env on ${sshd.host})\n` +
        `on each machine: soc init ${url} --token ${token}   (or set SOC_TOKEN)\n`,
    ]);
    const env = readFileSync(join(host.path, "soc.env"), "utf8");
    expect(env).toBe(`SOC_TOKEN=${token}\nSOC_PORT=${port}\nSOC_STORE=${host.path}/store\n`);
    expect(statSync(join(host.path, "soc.env")).mode & 0o777).toBe(0o600);
    const firstPid = _recordedPid(host.path);

    const a = join(work.path, "a");
    const b = join(work.path, "b");
    writeFile(a, "docs/readme.txt", "hello from a\n");
    for (let i = 0; i < BIG; i++) writeFile(a, `big/f${i}`, `file ${i}\n`);
    await _soc(a, ["init", url, "--token", token]);
    await _soc(a, ["add", "-r", "docs", "big"]);
    await _soc(a, ["push"]);
    await _soc(work.path, ["clone", url, b, "--token", token]);
    expect(snapshot(b)).toEqual(snapshot(a));

    // Over 4096 files: the C stat core (compiled from a copy of its embedded source), or the
    // fallback's stat worker; every one touched: the hash workers too.
    const past = new Date(Date.now() - 3600_000);
    utimesSync(join(a, "docs/readme.txt"), past, past);
    for (let i = 0; i < BIG; i++) utimesSync(join(a, `big/f${i}`), past, past);
    writeFile(a, "big/f7", "FILE 7\n"); // the same size as before: only its md5 tells it changed
    const fallback = await _soc(a, ["status", "-v", "--json"], { SOC_STAT_CORE: "js" });
    const status = await _soc(a, ["status", "-v", "--json"]);
    expect([fallback.stdout, fallback.stderr]).toEqual([
      '{"added":[],"modified":["big/f7"],"deleted":[]}\n',
      `scanned ${BIG + 1} files, hashed ${BIG + 1}\n`,
    ]);
    expect([status.stdout, status.stderr]).toEqual([fallback.stdout, `scanned ${BIG + 1} files, hashed 1\n`]);

    const second = await deploy();
    expect([second.code, second.stdout]).toEqual([
      0,
      `soc server running at ${url}\ntoken unchanged (SOC_TOKEN in ${host.path}/soc.env on ${sshd.host})\n`,
    ]);
    expect(readFileSync(join(host.path, "soc.env"), "utf8")).toBe(env);
    expect(_recordedPid(host.path)).not.toBe(firstPid);
    expect(isAlive(firstPid)).toBe(false);

    await _soc(a, ["push"]);
    await _soc(b, ["pull"]);
    expect(readFileSync(join(b, "big/f7"), "utf8")).toBe("FILE 7\n");
    expect(snapshot(b)).toEqual(snapshot(a));
  });

  test("the systemd unit: its own user, read-only system but for the store, verified", async () => {
    using host = tempDir("soc-unit-");
    copyFileSync(join(ROOT, "deploy/soc-server.service"), join(host.path, "soc-server.service"));
    copyFileSync("/bin/true", join(host.path, "soc-server"));
    const unit = await run(["sh", join(ROOT, "scripts/deploy-remote.sh"), host.path, "print-unit"], { cwd: host.path });
    expect([unit.code, unit.stderr]).toEqual([0, ""]);
    const lines = unit.stdout.split("\n");
    for (const line of [
      "User=soc",
      `EnvironmentFile=${host.path}/soc.env`,
      `ExecStart=${host.path}/soc-server --host 0.0.0.0`,
      "Restart=on-failure",
      "ProtectSystem=strict",
      `ReadWritePaths=${host.path}/store ${host.path}/.soc-server`,
    ]) {
      expect(lines).toContain(line);
    }
    const file = join(host.path, "soc-test.service");
    writeFileSync(file, unit.stdout);
    expect(await run(["systemd-analyze", "verify", file], { cwd: host.path })).toEqual({ stdout: "", stderr: "", code: 0 });
  });
});

// ---------------------------------------------------------------------------

/** The compiled soc, with a PATH that holds rsync only; throws with its output unless it exits 0. */
async function _soc(cwd: string, args: string[], env: Record<string, string> = {}) {
  const res = await run([SOC, ...args], { cwd, env: { PATH: bin.path, HOME: process.env.HOME, NO_COLOR: "1", ...env } });
  if (res.code !== 0) throw new Error(`soc ${args.join(" ")} exited ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  return res;
}

function _recordedPid(dir: string): number {
  return Number(readFileSync(join(dir, "soc-server.pid"), "utf8").trim());
}

/** Stops the deployed server by its recorded pid when the scope ends. */
function _stopRecorded(dir: string): AsyncDisposable {
  return {
    [Symbol.asyncDispose]: async () => {
      let pid: number;
      try {
        pid = _recordedPid(dir);
      } catch {
        return;
      }
      if (!isAlive(pid)) return;
      process.kill(pid, "SIGTERM");
      await waitFor(() => !isAlive(pid), `deployed server ${pid} to stop`);
    },
  };
}
