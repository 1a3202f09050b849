/** Small measuring kit for scripts/bench.ts: run something N times, keep the median, print a table. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** One line of the report: a soc measurement, an optional reference, and the goal it is held to. */
export interface BenchRow {
  what: string;
  soc: number;
  ref?: number;
  unit: string;
  /** The compared figure: soc/ref for times, ref/soc for speed, or soc itself when there is no reference. */
  ratio: number;
  goal: Goal;
}

/** `ratio <= value` (slower/bigger is worse) or `ratio >= value` (faster is better). */
export interface Goal {
  op: "<=" | ">=" | "<";
  value: number;
}

/** Runs `fn` `runs` times (after one untimed warm-up) and returns the median wall time in ms. */
export async function measure(fn: () => unknown, runs: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** The median of `xs` (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The `p`-th percentile of `xs` (0 < p <= 100), nearest rank: the smallest value with at least p% of `xs` at or below it; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length))) - 1] as number;
}

/** Result of one finished child process. */
export interface RunResult {
  stdout: string;
  stderr: string;
  /** Peak resident set in KiB, as GNU time or getrusage reports it. */
  maxRssKiB: number;
}

/**
 * Runs `argv` in `cwd` and throws with its stderr when it exits non-zero. With `timeRss` and
 * GNU time present, the child runs under `/usr/bin/time -f %M` so the figure is the child's own.
 */
export function runCommand(
  argv: readonly string[],
  cwd: string,
  opts: { stdin?: Uint8Array; timeRss?: boolean; env?: Record<string, string | undefined> } = {},
): RunResult {
  const gnuTime = opts.timeRss === true && _hasGnuTime();
  const full = gnuTime ? ["/usr/bin/time", "-f", "%M", ...argv] : [...argv];
  const env = opts.env ? { ...process.env, ...opts.env } : undefined;
  const proc = Bun.spawnSync(full, { cwd, env, stdin: opts.stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const stderr = proc.stderr.toString();
  if (proc.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${proc.exitCode}: ${stderr}`);
  const rss = gnuTime ? Number(stderr.trim().split("\n").at(-1)) : Number(proc.resourceUsage?.maxRSS ?? 0) / 1024;
  return { stdout: proc.stdout.toString(), stderr, maxRssKiB: rss };
}

/**
 * Makes `tree` a git repository with everything in it committed (soc's `.soc/` excluded), for
 * comparing soc with git on the same files; returns a runner for more git commands there.
 * Automatic gc stays off: it would go on repacking in the background during the measurements.
 */
export function gitCommitTree(tree: string): (...args: string[]) => RunResult {
  writeFileSync(join(tree, ".git-exclude"), ".soc/\n.git-exclude\n");
  const git = (...args: string[]) =>
    runCommand(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0", ...args], tree);
  git("init", "-q");
  git("config", "core.excludesFile", ".git-exclude");
  git("add", "-A");
  git("commit", "-q", "-m", "bench");
  return git;
}

/** The table: what, soc median, reference median, ratio, goal, PASS/MISS. */
export function report(rows: readonly BenchRow[]): string {
  const head = ["what", "soc", "reference", "ratio", "goal", "result"];
  const body = rows.map((r) => [
    r.what,
    _fmt(r.soc, r.unit),
    r.ref === undefined ? "-" : _fmt(r.ref, r.unit),
    r.ref === undefined ? "-" : r.ratio.toFixed(2),
    `${r.goal.op} ${r.goal.value}${r.ref === undefined ? ` ${r.unit}` : ""}`,
    _passes(r) ? "PASS" : "MISS",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** True when every row meets its goal. */
export function allPass(rows: readonly BenchRow[]): boolean {
  return rows.every(_passes);
}

// ---------------------------------------------------------------------------

function _passes(r: BenchRow): boolean {
  const { op, value } = r.goal;
  return op === "<=" ? r.ratio <= value : op === "<" ? r.ratio < value : r.ratio >= value;
}

function _fmt(v: number, unit: string): string {
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${unit}`;
}

let _gnuTime: boolean | undefined;
function _hasGnuTime(): boolean {
  if (_gnuTime === undefined) {
    try {
      _gnuTime = Bun.spawnSync(["/usr/bin/time", "-f", "%M", "true"], { stderr: "pipe" }).exitCode === 0;
    } catch {
      _gnuTime = false;
    }
  }
  return _gnuTime;
}

/**
 * A soc server started as a child process on a free port over `store` (with `cache`, a node's
 * cache there: --cache), with more flags `args`, its log (stderr) into `logFile` if given;
 * `await using` stops it.
 */
export async function startServerProcess(
  store: string,
  env: Record<string, string | undefined> = {},
  logFile?: string,
  more: { args?: string[]; cache?: boolean } = {},
): Promise<{ url: string; pid: number } & AsyncDisposable> {
  const root = new URL("..", import.meta.url).pathname;
  const proc = Bun.spawn(["bun", `${root}server.ts`, more.cache ? "--cache" : "--store", store, "--port", "0", ...(more.args ?? [])], {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: logFile === undefined ? "ignore" : Bun.file(logFile),
  });
  let text = "";
  for await (const chunk of proc.stdout) {
    text += new TextDecoder().decode(chunk);
    const url = /listening on (\S+)/.exec(text)?.[1];
    if (url) {
      return {
        url,
        pid: proc.pid,
        [Symbol.asyncDispose]: async () => {
          proc.kill("SIGTERM");
          await proc.exited;
        },
      };
    }
  }
  throw new Error("the server exited before listening");
}
