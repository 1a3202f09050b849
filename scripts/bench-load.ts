/**
 * `make bench-load`: one real soc server (a child process on 127.0.0.1, port 0) holding 10k files
 * pushed by the real CLI, then two phases measured at the client:
 * - load: for BENCH_LOAD_SECONDS (default 60), 1,000 clients poll "changes since" every 2 s while
 *   20 push a few small files every 5 s, open loop (bench-load-worker.ts, one worker thread per
 *   kind); errors, latencies and the server's RSS, sampled every second;
 * - clone storm: BENCH_LOAD_CLONES (default 50) `soc clone`s at once over the tunnel (the default
 *   transport, so the bytes go through the server) against as many plain `rsync -a` copies of the
 *   store started at once.
 * Prints one row per goal with PASS or MISS; a miss is reported, not an error (as `make bench`).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { allPass, median, percentile, report, runCommand, startServerProcess, type BenchRow } from "./bench-lib.ts";
import type { LoadJob, LoadResult } from "./bench-load-worker.ts";

const ROOT = resolve(import.meta.dir, "..");
const SOC = [process.execPath, join(ROOT, "cli.ts")];
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
const CLONES = Number(process.env.BENCH_LOAD_CLONES ?? 50);
const DIRS = 10;
const PER_DIR = 1000;
const POLLERS = 1000;
const POLL_EVERY_MS = 2000;
const PUSHERS = 20;
const PUSH_EVERY_MS = 5000;
const FILES_PER_PUSH = 3;
/**
 * The same load runs this long before the measured part: a server that just started compiles its
 * routes and fills its caches under the first requests (their p99 is hundreds of ms here), which
 * is the cost of a restart, not of serving 1,000 clients. Errors count from the first request.
 */
const WARMUP_S = 5;
/** RSS is compared over this many seconds at the start and at the end of the load. */
const RSS_WINDOW_S = 10;

/** Runs both phases against one server in a temp dir; returns the rows of the table. */
export async function benchLoad(log: (m: string) => void = () => {}): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "soc-bench-load-"));
  try {
    const token = randomBytes(32).toString("hex");
    const store = join(dir, "store");
    // 50 clones at once need as many tunnel sessions: the default cap (16) would turn the rest away as "busy".
    const serverLog = join(dir, "server.log");
    await using server = await startServerProcess(store, { SOC_TOKEN: token, SOC_MAX_RSYNC_SESSIONS: String(Math.max(16, CLONES)) }, serverLog);
    const a = join(dir, "a");
    _writeTree(join(a, "tree"));
    log(`pushing ${DIRS * PER_DIR} files with the CLI`);
    runCommand([...SOC, "init", server.url, "--transport", "local", "--token", token], a);
    runCommand([...SOC, "add", "-r", "tree"], a);
    runCommand([...SOC, "push"], a);
    const head = await _head(server.url, token);
    log(
      `load for ${WARMUP_S} + ${SECONDS} s: ${POLLERS} pollers every ${POLL_EVERY_MS / 1000} s, ${PUSHERS} pushers every ${PUSH_EVERY_MS / 1000} s`,
    );
    const rows = await _loadPhase(server, token, head, serverLog, log);
    if (CLONES > 0) rows.push(await _cloneStorm(server.url, token, store, dir, log));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

async function _loadPhase(
  server: { url: string; pid: number },
  token: string,
  head: number,
  serverLog: string,
  log: (m: string) => void,
): Promise<BenchRow[]> {
  const startMs = performance.timeOrigin + performance.now() + 500;
  const measureFromMs = startMs + WARMUP_S * 1000;
  const durationMs = (WARMUP_S + SECONDS) * 1000;
  const common = { url: server.url, token, startMs, measureFromMs, durationMs, head, filesPerPush: FILES_PER_PUSH };
  const rss: number[] = [];
  let sampler: Timer | undefined;
  let logFrom = 0;
  const sampling = setTimeout(
    () => {
      logFrom = statSync(serverLog).size;
      sampler = setInterval(() => rss.push(_rssKiB(server.pid)), 1000);
    },
    measureFromMs - performance.timeOrigin - performance.now(),
  );
  const workers: Worker[] = [];
  try {
    const [polls, pushes] = await Promise.all([
      _inWorker({ ...common, kind: "poll", clients: POLLERS, everyMs: POLL_EVERY_MS }, workers),
      _inWorker({ ...common, kind: "push", clients: PUSHERS, everyMs: PUSH_EVERY_MS }, workers),
    ]);
    for (const r of [polls, pushes]) {
      log(
        `${r.kind}: ${r.sent} sent, ${r.latencies.length} timed after the warm-up, ${r.errors} errors; generator lag p99 ${percentile(r.lags, 99).toFixed(1)} ms` +
          (r.samples.length > 0 ? `; first errors: ${r.samples.join(" | ")}` : ""),
      );
    }
    log(`the server's own log says: ${_serverSide(readFileSync(serverLog, "utf8").slice(logFrom))}`);
    const window = Math.min(RSS_WINDOW_S, Math.floor(rss.length / 2));
    const [first, last] = [median(rss.slice(0, window)), median(rss.slice(-window))];
    log(`server RSS: ${(first / 1024).toFixed(0)} MiB in the first ${window} s, ${(last / 1024).toFixed(0)} MiB in the last ${window} s`);
    const ms = (what: string, soc: number, value: number): BenchRow => ({ what, soc, unit: "ms", ratio: soc, goal: { op: "<", value } });
    const errors = polls.errors + pushes.errors;
    return [
      {
        what: `errors (${polls.sent} polls, ${pushes.sent} pushes, warm-up included)`,
        soc: errors,
        unit: "",
        ratio: errors,
        goal: { op: "<=", value: 0 },
      },
      ms(`poll p50 (${POLLERS} clients every ${POLL_EVERY_MS / 1000} s)`, percentile(polls.latencies, 50), 50),
      ms("poll p99", percentile(polls.latencies, 99), 50),
      ms(`push p50 (${PUSHERS} clients every ${PUSH_EVERY_MS / 1000} s, begin to commit)`, percentile(pushes.latencies, 50), 150),
      ms("push p99", percentile(pushes.latencies, 99), 150),
      // A leak grows with the 30k requests; warm-up (JIT, SQLite's page cache, sockets) settles in the first seconds.
      {
        what: `server RSS, last ${window} s vs first ${window} s (median)`,
        soc: last / 1024,
        ref: first / 1024,
        unit: "MiB",
        ratio: last / first,
        goal: { op: "<=", value: 1.2 },
      },
    ];
  } finally {
    clearTimeout(sampling);
    clearInterval(sampler);
    for (const w of workers) w.terminate();
  }
}

/** Runs `job` in a fresh worker (added to `workers`, for the caller to terminate) and resolves with its result. */
function _inWorker(job: LoadJob, workers: Worker[]): Promise<LoadResult> {
  const worker = new Worker(new URL("./bench-load-worker.ts", import.meta.url).href);
  workers.push(worker);
  return new Promise((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<LoadResult>) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(`the ${job.kind} worker failed: ${e.message}`));
    worker.postMessage(job);
  });
}

/** `clones` × `soc clone` (tunnel) at once vs as many `rsync -a` copies of the store at once: the slowest of each. */
async function _cloneStorm(url: string, token: string, store: string, dir: string, log: (m: string) => void): Promise<BenchRow> {
  const refDir = join(dir, "rsync-copies");
  const cloneDir = join(dir, "clones");
  mkdirSync(refDir);
  mkdirSync(cloneDir);
  log(`clone storm: ${CLONES} rsync -a copies of the store at once`);
  const rsyncMs = await _allAtOnce(CLONES, (i) => ["rsync", "-a", `${store}/`, join(refDir, `copy${i}`)], dir, {});
  rmSync(refDir, { recursive: true, force: true });
  log(`clone storm: ${CLONES} soc clones (tunnel) at once`);
  const cloneMs = await _allAtOnce(CLONES, (i) => [...SOC, "clone", url, join(cloneDir, `clone${i}`), "--quiet"], dir, { SOC_TOKEN: token });
  rmSync(cloneDir, { recursive: true, force: true });
  const [soc, ref] = [Math.max(...cloneMs), Math.max(...rsyncMs)];
  log(`clone storm: slowest soc clone ${(soc / 1000).toFixed(1)} s, slowest rsync -a ${(ref / 1000).toFixed(1)} s`);
  return {
    what: `clone storm: slowest of ${CLONES} soc clones vs of ${CLONES} rsync -a`,
    soc: soc / 1000,
    ref: ref / 1000,
    unit: "s",
    ratio: soc / ref,
    goal: { op: "<=", value: 1.5 },
  };
}

/**
 * Starts `n` commands at once and returns each one's wall time in ms; throws naming the first that
 * failed, once all have ended. Any still running when this throws is killed.
 */
async function _allAtOnce(n: number, argv: (i: number) => string[], cwd: string, env: Record<string, string>): Promise<number[]> {
  const started = performance.now();
  const procs = Array.from({ length: n }, (_, i) =>
    Bun.spawn(argv(i), { cwd, env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" }),
  );
  try {
    const ends = await Promise.all(
      procs.map(async (p, i) => {
        const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
        const code = await p.exited;
        return { i, ms: performance.now() - started, code, why: `${err}${out}`.trim() };
      }),
    );
    const failed = ends.filter((e) => e.code !== 0);
    if (failed.length > 0) {
      const first = failed[0] as (typeof failed)[number];
      throw new Error(`${failed.length} of ${n} failed; ${argv(first.i).join(" ")} exited ${first.code}: ${first.why.slice(0, 500)}`);
    }
    return ends.map((e) => e.ms);
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
  }
}

/** The p50 and p99 of the times the server logged for polls and commits (its view, without queueing at the client). */
function _serverSide(log: string): string {
  const times = (route: string) => [...log.matchAll(new RegExp(`^${route} 200 ([0-9.]+)ms$`, "gm"))].map((m) => Number(m[1]));
  return [
    ["GET /v1/changes", "polls"],
    ["POST /v1/push/commit", "commits (to the answer's head)"],
  ]
    .map(([route, what]) => {
      const t = times(route as string);
      return `${what} p50 ${percentile(t, 50).toFixed(1)} ms, p99 ${percentile(t, 99).toFixed(1)} ms`;
    })
    .join("; ");
}

/** The server process's resident set in KiB (VmRSS), or NaN once it is gone. */
function _rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The server's head revision (GET /v1/info). */
async function _head(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/v1/info`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET /v1/info answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { revision: number }).revision;
}

function _writeTree(tree: string): void {
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < PER_DIR; f++) writeFileSync(join(tree, `d${d}`, `f${f}.txt`), `file d${d}/f${f}\n${"x".repeat(200)}\n`);
  }
}

if (import.meta.main) {
  const rows = await benchLoad((m) => console.error(m));
  console.log(report(rows));
  if (!allPass(rows)) process.stdout.write("some goals were missed (MISS above)\n");
}
