import { readdirSync, readFileSync } from "node:fs";

/** What a finished process printed and returned. */
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs `argv` to its end with stdin closed, in `cwd`, with exactly `env` (default: this process's);
 * stdout/stderr are read before the exit code. Killed if reading its output fails.
 */
export async function run(argv: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<RunResult> {
  const proc = Bun.spawn(argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  try {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return { stdout, stderr, code: await proc.exited };
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  }
}

/** Polls `check` every 20 ms until it holds; throws naming `what` after `ms` (generous: CI may be slow). */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  if (!(await pollUntil(check, ms))) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Polls `check` every `every` ms until it holds or `ms` have passed; whether it held (for waits that may give up quietly). */
export async function pollUntil(check: () => boolean | Promise<boolean>, ms: number, every = 20): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(every);
  }
  return true;
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

/** A live process: its pid and its argv as /proc shows it (words NUL-separated, UTF-8). */
export interface LiveProcess {
  pid: number;
  cmdline: string;
}

/** Every live process this user can see, zombies (exited, not yet reaped) excluded: the one /proc scan. */
export function liveProcesses(): LiveProcess[] {
  const found: LiveProcess[] = [];
  for (const pid of _pids()) {
    if (!isAlive(pid)) continue;
    found.push({ pid, cmdline: _read(`/proc/${pid}/cmdline`, "utf8") });
  }
  return found;
}

/** Pids of the live processes (zombies excluded) whose argv contains `text`. */
export function pidsMentioning(text: string): number[] {
  return liveProcesses()
    .filter((p) => p.cmdline.includes(text))
    .map((p) => p.pid);
}

/** Whether `pid` runs (a zombie, exited but not yet reaped, does not). */
export function isAlive(pid: number): boolean {
  const stat = _stat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** Pids of the live direct children of `pid`, only those whose command name is `comm` if given. */
export function childPids(pid: number, comm?: string): number[] {
  return _pids().filter((p) => {
    const stat = _stat(p);
    return stat !== undefined && stat.state !== "Z" && stat.ppid === pid && (comm === undefined || stat.comm === comm);
  });
}

/** The pids of `pid`'s parent, its parent's parent, and so on up to init. */
export function ancestorPids(pid: number): number[] {
  const out: number[] = [];
  for (let p = _stat(pid)?.ppid ?? 0; p > 0 && !out.includes(p); p = _stat(p)?.ppid ?? 0) out.push(p);
  return out;
}

/** Resident memory of a process in KiB (VmRSS), or 0 once it is gone. */
export function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(_read(`/proc/${pid}/status`))?.[1] ?? 0);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (nothing holds it for the caller). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

// ---------------------------------------------------------------------------

function _pids(): number[] {
  return readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Command name, state letter and parent of `pid` from /proc/PID/stat; undefined once it is gone. */
function _stat(pid: number): { comm: string; state: string; ppid: number } | undefined {
  const stat = _read(`/proc/${pid}/stat`);
  if (stat === "") return undefined;
  const close = stat.lastIndexOf(")"); // the command name may hold spaces and parentheses
  const [state = "", ppid = ""] = stat.slice(close + 2).split(" ");
  return { comm: stat.slice(stat.indexOf("(") + 1, close), state, ppid: Number(ppid) };
}

function _read(path: string, encoding: BufferEncoding = "latin1"): string {
  try {
    return readFileSync(path, encoding);
  } catch {
    return "";
  }
}
