import { mkdtempSync, rmSync } from "node:fs";
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
