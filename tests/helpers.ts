import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** Absolute path of the project (where cli.ts lives). */
export const ROOT = resolve(import.meta.dir, "..");

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

/** Starts a server; pass `token` to require bearer auth. */
export async function startServer(opts: { token?: string; root?: string } = {}): Promise<TestServer> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), "soc-server-"));
  const store = join(root, "store");
  const proc = Bun.spawn(["bun", join(ROOT, "server.ts"), "--store", store, "--port", "0"], {
    env: { ...process.env, SOC_TOKEN: opts.token },
    stdout: "pipe",
    stderr: "pipe",
  });
  let log = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of proc.stderr) log += decoder.decode(chunk);
  })();
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${log}`);
    out += decoder.decode(value);
  }
  const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`unexpected server output: ${out}`);
  return {
    url,
    store,
    stateDir: join(root, ".soc-server"),
    log: () => log,
    [Symbol.asyncDispose]: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      if (!opts.root) rmSync(root, { recursive: true, force: true });
    },
  };
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
