import { join } from "node:path";
import { ROOT } from "./fs.ts";
import { run, type RunResult } from "./proc.ts";

/** Absolute path of cli.ts, for a test that starts `bun CLI ...` itself (on a terminal, in its own group). */
export const CLI = join(ROOT, "cli.ts");

/** What a finished CLI run printed and returned. */
export type CliResult = RunResult;

/** Runs `bun cli.ts ...args` in `cwd` as a real subprocess (NO_COLOR=1, `env` on top of this process's); stdout/stderr are read before the exit code. */
export function runCli(cwd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return run(["bun", CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: "1", ...env } });
}

/** The uid and gid of `nobody`: runCliAsNobody's user, for trees where permissions must bite (root reads everything). */
export const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Like runCli, as `nobody` (setpriv, no supplementary groups, its own HOME, no transpiler cache
 * to write); `cwd` must be reachable by it.
 */
export function runCliAsNobody(cwd: string, args: string[]): Promise<CliResult> {
  const as = ["setpriv", `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, "--clear-groups", "--"];
  const env = { ...process.env, NO_COLOR: "1", HOME: "/nonexistent", BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" };
  return run([...as, "bun", CLI, ...args], { cwd, env });
}

/** Like runCli but throws with the output when the exit code is not `expected`. */
export async function cli(cwd: string, args: string[], expected = 0, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const res = await runCli(cwd, args, env);
  if (res.code !== expected) {
    throw new Error(`soc ${args.join(" ")} exited ${res.code}, expected ${expected}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  }
  return res;
}

/** Runs `soc ...args --json` as cli() does and parses what it printed. */
export async function cliJson<T = unknown>(cwd: string, args: string[], expected = 0): Promise<T> {
  return JSON.parse((await cli(cwd, [...args, "--json"], expected)).stdout) as T;
}

/**
 * Runs `soc ...args` in `cwd` on a pseudo-terminal (Bun's own PTY: stdin, stdout and stderr are
 * the terminal) and returns everything the terminal showed. `shell` wraps the command line, e.g.
 * `"$@" | cat` to pipe stdout while stderr stays the terminal.
 */
export async function runCliOnTerminal(cwd: string, args: string[], opts: { env?: Record<string, string | undefined>; shell?: string } = {}) {
  let shown = "";
  const decoder = new TextDecoder();
  const { promise: closed, resolve } = Promise.withResolvers<void>();
  const proc = Bun.spawn(["sh", "-c", opts.shell ?? '"$@"', "sh", "bun", CLI, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    terminal: {
      cols: 100,
      rows: 30,
      data: (_term, data) => {
        shown += decoder.decode(data, { stream: true });
      },
      exit: () => resolve(),
    },
  });
  const code = await proc.exited;
  await closed;
  proc.terminal?.close();
  return { shown, code };
}
