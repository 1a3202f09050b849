import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { rshString } from "../../lib/client/rsync.ts";
import { tunnelCommand, tunnelUrl } from "../../lib/client/tunnel.ts";

/** Absolute path of the project (where cli.ts lives). */
export const ROOT = resolve(import.meta.dir, "../..");

/** A temporary directory removed when the `using` scope ends. */
export function tempDir(prefix = "soc-test-"): { path: string } & Disposable {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/** What a finished CLI run printed and returned. */
export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs `bun cli.ts ...args` in `cwd` as a real subprocess; stdout/stderr are read before the exit code. */
export async function runCli(cwd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const proc = Bun.spawn(["bun", join(ROOT, "cli.ts"), ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  return { stdout, stderr, code };
}

/** Like runCli but throws with the output when the exit code is not `expected`. */
export async function cli(cwd: string, args: string[], expected = 0, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const res = await runCli(cwd, args, env);
  if (res.code !== expected) {
    throw new Error(`soc ${args.join(" ")} exited ${res.code}, expected ${expected}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  }
  return res;
}

/** A real `bun server.ts` on 127.0.0.1, port 0, over a temp store; `await using` stops it. */
export interface TestServer extends AsyncDisposable {
  url: string;
  /** Absolute path of the store directory. */
  store: string;
  /** Absolute path of the server's state directory (database, stages). */
  stateDir: string;
  /** The server's request log so far (stderr). */
  log(): string;
}

/**
 * Starts a server; pass `token` to require bearer auth. A server that does not say where it
 * listens within `ms` is killed, and so is one whose start-up fails halfway: nothing is left running.
 */
export async function startServer(opts: { token?: string; root?: string } = {}, ms = 60_000): Promise<TestServer> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), "soc-server-"));
  const store = join(root, "store");
  const proc = Bun.spawn(["bun", join(ROOT, "server.ts"), "--store", store, "--port", "0"], {
    env: { ...process.env, SOC_TOKEN: opts.token },
    stdout: "pipe",
    stderr: "pipe",
  });
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
    if (!opts.root) rmSync(root, { recursive: true, force: true });
  };
  let log = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of proc.stderr) log += decoder.decode(chunk);
  })();
  try {
    const url = await _listeningUrl(proc.stdout, ms, () => log);
    return { url, store, stateDir: join(root, ".soc-server"), log: () => log, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Every regular file under `dir` (except `.soc/`) as path → content, for byte-exact comparison. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (p === ".soc") continue;
      if (e.isDirectory()) walk(p);
      else out[p] = readFileSync(join(dir, p)).toString("base64");
    }
  };
  walk("");
  return out;
}

/** Polls `check` every 20 ms until it holds; throws naming `what` after `ms` (generous: CI may be slow). */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** The pid of a startServer() server, found by its --store argument in /proc. */
export function serverPid(server: TestServer): number {
  const pid = _pids().find((p) => _read(`/proc/${p}/cmdline`).includes(`\0--store\0${server.store}\0`));
  if (pid === undefined) throw new Error(`no server process for ${server.store}`);
  return pid;
}

/** Pids of the live direct children of `pid`, only those whose command name is `comm` if given. */
export function childPids(pid: number, comm?: string): number[] {
  return _pids().filter((p) => {
    const stat = _read(`/proc/${p}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] !== "Z" && fields[1] === String(pid) && (comm === undefined || stat.includes(`(${comm})`));
  });
}

/** Resident memory of a process in KiB (VmRSS), or 0 once it is gone. */
export function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(_read(`/proc/${pid}/status`))?.[1] ?? 0);
}

/**
 * Starts `rsync ARGS` through the tunnel to `server` in a new session (so its group can be killed);
 * `names` go to --files-from=- NUL-separated. `await using` kills the group if it is still running.
 */
export function rsyncViaTunnel(server: TestServer, token: string | undefined, args: string[], names: string[]) {
  const rsh = rshString(tunnelCommand());
  const proc = Bun.spawn(["setsid", "rsync", "-tp", "--chmod=Du+rwx", "--ignore-times", "--from0", "--files-from=-", `--rsh=${rsh}`, ...args], {
    env: { ...process.env, SOC_TUNNEL_URL: tunnelUrl(server.url), SOC_TOKEN: token },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  proc.stdin.write(names.map((n) => `${n}\0`).join(""));
  void proc.stdin.end();
  const result = (async () => {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return { stdout, stderr, code: await proc.exited };
  })();
  return { pid: proc.pid, result, [Symbol.asyncDispose]: () => killGroup(proc) };
}

/** SIGKILLs the process group `proc` leads (started with setsid) unless it has exited, and waits for it. */
export async function killGroup(proc: Bun.Subprocess): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // the group is gone already
    }
  }
  await proc.exited;
}

/** POST /v1/push/begin; returns the new stage id. */
export async function beginPush(server: TestServer, token?: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/push/begin`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ client: "test" }),
  });
  if (!res.ok) throw new Error(`push/begin: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { stage: string }).stage;
}

/** The URL of the server's first stdout line, "listening on URL"; throws if it ends or takes longer than `ms`. */
async function _listeningUrl(stdout: ReadableStream<Uint8Array>, ms: number, log: () => string): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not listen within ${ms} ms: ${log()}`)), ms);
  });
  try {
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await Promise.race([reader.read(), late]);
      if (done) throw new Error(`server exited before listening: ${log()}`);
      out += decoder.decode(value);
    }
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
    if (!url) throw new Error(`unexpected server output: ${out}`);
    return url;
  } finally {
    clearTimeout(timer);
  }
}

function _pids(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function _read(path: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return "";
  }
}
