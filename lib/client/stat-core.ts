import { cc, type Pointer } from "bun:ffi";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import coreSource from "./stat-core.c" with { type: "file" };
import { batchBytes, BY_MAIN, BY_WORKER, claimBatch, STAT_FIELDS, statBatch, type StatBatch } from "./walk-worker.ts";

export { STAT_FIELDS };

/** Paths packed as UTF-8, each ended by a NUL, `count` of them (BaseIndex.pathBlock). */
export interface PathBlock {
  pathBlock: Uint8Array;
  count: number;
}

/** STAT_FIELDS numbers per path, in order; with `against`, where the C core ran, each path's index in that block or -1. */
export interface StatResult {
  stats: Float64Array;
  match?: Int32Array;
}

/** A stat of many paths under way. */
export interface StatJob {
  wait(against?: PathBlock): StatResult;
}

/**
 * What a tree walk in C found: its regular files and symlinks, and the special files it skipped.
 * Matched against a base, `match` and `clean` say which files need a closer look (clean: the stat
 * equals a settled base entry's); `pathAt` and `statAt` then answer only for the others, so an
 * unchanged tree costs no string and no number per file on this side.
 */
export interface TreeWalkResult {
  count: number;
  match?: Int32Array;
  clean?: Uint8Array;
  pathAt(i: number): string;
  /** STAT_FIELDS numbers of file `i`. */
  statAt(i: number): ArrayLike<number>;
  skipped: { path: string; kind: "special file" }[];
}

/** A tree walk under way on C threads; `against` also carries the base's numbers (BaseIndex). */
export interface TreeWalkJob {
  /** With `everyFile`, pathAt and statAt answer for clean files too; undefined when the walk could not be finished (statx(2) missing, out of memory). */
  wait(against?: PathBlock & { stats: Float64Array }, everyFile?: boolean): TreeWalkResult | undefined;
}

/** Which implementation lstats a scan's files: the C core on threads, or the JS fallback. */
export type StatCore = "c" | "js";

/** Paths from which the C core pays for its compilation (~10 ms). */
export const C_CORE_MIN = 2000;

/**
 * The implementation used here for about `paths` paths: the C core (stat-core.c, compiled at run
 * time by bun:ffi's TinyCC) from C_CORE_MIN paths on, unless it cannot be built on this system;
 * else the fallback (readdirSync and lstatSync, with a helper worker in a large tree).
 * SOC_STAT_CORE=js or =c picks one for any number of paths (=c still falls back where C cannot run).
 */
export function statCore(paths: number = Number.POSITIVE_INFINITY): StatCore {
  const wanted = process.env.SOC_STAT_CORE;
  if (wanted === "js" || (wanted !== "c" && paths < C_CORE_MIN)) return "js";
  return _core() ? "c" : "js";
}

/**
 * Starts lstat-ing `top/rel` for every `rel` (never following a final symlink). With the C core
 * the work runs on other threads and this returns at once, so the caller can do something else
 * (read the base) until `wait`; the JS fallback starts a worker in a large tree and does the rest in `wait`.
 */
export function startStat(top: string, rels: readonly string[]): StatJob {
  const core = statCore(rels.length) === "c" ? _core() : null;
  if (core && rels.length > 0) {
    // Read during the call only: the C side copies the names.
    const names = Buffer.from(`${rels.join("\0")}\0`, "utf8");
    const job = core.soc_stat_start(_cString(top), names, names.length, rels.length, _threads(rels.length));
    if (job !== null) {
      return {
        wait: (against) => {
          const info = _wait(core, job);
          const stats = new Float64Array(Math.max(info.count, 1) * STAT_FIELDS);
          let match: ReturnType<typeof _compare>;
          try {
            match = info.status === 0 && against ? _compare(core, job, info.count, against) : undefined;
            core.soc_job_take(job, stats, null, null, null);
          } finally {
            core.soc_job_free(job);
          }
          if (info.status !== 0) return _statInJs(top, rels).wait();
          return { stats: stats.subarray(0, info.count * STAT_FIELDS), ...(match ? { match: match.match } : {}) };
        },
      };
    }
  }
  return _statInJs(top, rels);
}

/**
 * Starts a walk of the tree at `top` in C, on threads of its own, and returns at once; null where
 * the C core cannot run. It walks `dirs` (never entering or taking a path in `excluded`, nor what
 * soc always ignores: ignore.ts BUILTIN) and takes `files` as they are, all relative to `top`.
 * Only for a tree without a .socignore: its patterns are matched in JS.
 */
export function startTreeWalk(top: string, dirs: readonly string[], files: readonly string[], excluded: readonly string[]): TreeWalkJob | null {
  const core = _core();
  if (!core) return null;
  const starts = _block([...dirs, ...files, "unused"]); // never empty: bun:ffi has no pointer for an empty array
  const skip = _block([...excluded, "unused"]);
  const job = core.soc_walk_start(
    _cString(top),
    starts,
    starts.length,
    dirs.length,
    files.length,
    skip,
    skip.length,
    excluded.length,
    _threads(Infinity),
  );
  if (job === null) return null;
  return {
    wait: (against, everyFile) => {
      const info = _wait(core, job);
      try {
        return info.status === 0 ? _results(core, job, info, against, everyFile === true) : undefined;
      } finally {
        core.soc_job_free(job);
      }
    },
  };
}

// ---------------------------------------------------------------------------

const _MAX_THREADS = 8;
/** Paths below which one thread does it all (a thread costs about as much as 50 lstats). */
const _THREAD_MIN = 512;

function _threads(paths: number): number {
  return paths < _THREAD_MIN ? 1 : Math.min(navigator.hardwareConcurrency, _MAX_THREADS);
}

function _cString(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

function _block(paths: readonly string[]): Buffer {
  return Buffer.from(paths.map((p) => `${p}\0`).join(""), "utf8");
}

/** Waits for a C job; its size and whether its results can be trusted (status 0). */
function _wait(core: _CoreSymbols, job: Pointer): { count: number; nameBytes: number; skippedBytes: number; status: number } {
  const info = new Float64Array(4);
  core.soc_stat_wait(job, info);
  return { count: info[0] as number, nameBytes: info[1] as number, skippedBytes: info[2] as number, status: info[3] as number };
}

/** Matches a waited-for job's paths to `against` and compares their stats with its numbers; undefined for a malformed block. */
function _compare(core: _CoreSymbols, job: Pointer, count: number, against: PathBlock & { stats?: Float64Array }) {
  if (against.count === 0) return { match: new Int32Array(count).fill(-1), clean: new Uint8Array(count) };
  // One more slot than needed each: bun:ffi has no pointer for an empty array.
  const match = new Int32Array(count + 1);
  const clean = new Uint8Array(count + 1);
  const numbers = against.stats && against.stats.length > 0 ? against.stats : new Float64Array(against.count * STAT_FIELDS);
  const done = core.soc_job_compare(job, against.pathBlock, against.pathBlock.length, against.count, numbers, match, clean);
  return done === 0 ? { match: match.subarray(0, count), clean: clean.subarray(0, count) } : undefined;
}

/** Files a tree walk must hand over one by one at most; beyond it, all of them at once. */
const _ONE_BY_ONE = 1 / 4;

/** A tree walk's results: only the files that need a closer look, unless most do. */
function _results(
  core: _CoreSymbols,
  job: Pointer,
  info: ReturnType<typeof _wait>,
  against: (PathBlock & { stats: Float64Array }) | undefined,
  everyFile: boolean,
): TreeWalkResult {
  const { count } = info;
  const compared = against ? _compare(core, job, count, against) : undefined;
  const skippedBytes = Buffer.alloc(info.skippedBytes);
  if (info.skippedBytes > 0) core.soc_job_skipped(job, skippedBytes);
  const skipped = skippedBytes
    .toString("utf8")
    .split("\0")
    .slice(0, -1)
    .map((entry) => ({ path: entry.slice(1), kind: "special file" as const }));
  const wanted: number[] = [];
  if (compared) for (let i = 0; i < count; i++) if (!compared.clean[i]) wanted.push(i);
  const byIndex = new Map<number, { path: string; stat: Float64Array }>();
  if (compared && !everyFile && wanted.length <= count * _ONE_BY_ONE) {
    let buf = Buffer.alloc(4096);
    for (const i of wanted) {
      const stat = new Float64Array(STAT_FIELDS);
      core.soc_job_stat(job, i, stat);
      let len = core.soc_job_path(job, i, buf, buf.length);
      if (len > buf.length) {
        buf = Buffer.alloc(len);
        len = core.soc_job_path(job, i, buf, buf.length);
      }
      byIndex.set(i, { path: buf.toString("utf8", 0, len), stat });
    }
    const one = (i: number) => {
      const found = byIndex.get(i);
      if (!found) throw new Error(`file ${i} of the walk was found clean: nothing more was kept of it`);
      return found;
    };
    return { count, ...compared, pathAt: (i) => one(i).path, statAt: (i) => one(i).stat, skipped };
  }
  const stats = new Float64Array(Math.max(count, 1) * STAT_FIELDS);
  const names = Buffer.alloc(Math.max(info.nameBytes, 1));
  const starts = new Int32Array(count + 1);
  core.soc_job_take(job, stats, names, starts, null);
  starts[count] = info.nameBytes;
  return {
    count,
    ...(compared ?? {}),
    pathAt: (i) => names.toString("utf8", starts[i], (starts[i + 1] as number) - 1),
    statAt: (i) => stats.subarray(i * STAT_FIELDS, (i + 1) * STAT_FIELDS),
    skipped,
  };
}

interface _CoreSymbols {
  soc_stat_start(top: Buffer, names: Uint8Array, size: number, n: number, threads: number): Pointer | null;
  soc_walk_start(
    top: Buffer,
    starts: Uint8Array,
    startsSize: number,
    dirs: number,
    files: number,
    excluded: Uint8Array,
    excludedSize: number,
    excludedCount: number,
    threads: number,
  ): Pointer | null;
  soc_stat_wait(job: Pointer, info: Float64Array): void;
  soc_job_compare(job: Pointer, base: Uint8Array, size: number, count: number, baseStats: Float64Array, match: Int32Array, clean: Uint8Array): number;
  soc_job_stat(job: Pointer, i: number, out: Float64Array): void;
  soc_job_path(job: Pointer, i: number, buf: Uint8Array, cap: number): number;
  soc_job_skipped(job: Pointer, buf: Uint8Array): void;
  soc_job_free(job: Pointer): void;
  soc_job_take(job: Pointer, out: Float64Array, names: Uint8Array | null, starts: Int32Array | null, skipped: Uint8Array | null): void;
}

let _compiled: _CoreSymbols | null | undefined;

/** The C core, compiled on first use; null when TinyCC or the C library cannot provide it here. */
function _core(): _CoreSymbols | null {
  if (_compiled !== undefined) return _compiled;
  _compiled = null;
  if (process.platform !== "linux") return _compiled; // statx(2) is Linux's
  const compile = (source: string) =>
    cc({
      source,
      symbols: {
        soc_stat_start: { args: ["ptr", "ptr", "i32", "i32", "i32"], returns: "ptr" },
        soc_walk_start: { args: ["ptr", "ptr", "i32", "i32", "i32", "ptr", "i32", "i32", "i32"], returns: "ptr" },
        soc_stat_wait: { args: ["ptr", "ptr"], returns: "void" },
        soc_job_compare: { args: ["ptr", "ptr", "i32", "i32", "ptr", "ptr", "ptr"], returns: "i32" },
        soc_job_stat: { args: ["ptr", "i32", "ptr"], returns: "void" },
        soc_job_path: { args: ["ptr", "i32", "ptr", "i32"], returns: "i32" },
        soc_job_skipped: { args: ["ptr", "ptr"], returns: "void" },
        soc_job_free: { args: ["ptr"], returns: "void" },
        soc_job_take: { args: ["ptr", "ptr", "ptr", "ptr", "ptr"], returns: "void" },
      },
    }).symbols as unknown as _CoreSymbols;
  try {
    // Inside a compiled soc the source lives in Bun's embedded filesystem, which TinyCC cannot open: compile a copy.
    _compiled = coreSource.startsWith("/$bunfs/") ? _compileCopy(compile) : compile(coreSource);
  } catch {
    // No TinyCC in this build, no statx in this libc: the JS fallback does the same work.
  }
  return _compiled;
}

/** Compiles a copy of the C source from a private temp directory (removed at once). */
function _compileCopy(compile: (source: string) => _CoreSymbols): _CoreSymbols {
  const dir = mkdtempSync(join(tmpdir(), "soc-stat-core-"));
  try {
    const copy = join(dir, "stat-core.c");
    writeFileSync(copy, readFileSync(coreSource));
    return compile(copy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Paths per batch the main thread and the helper worker take turns on. */
const _BATCH = 1024;
/** Paths before a helper worker pays: it costs ~3 ms to start, ~2.5 µs per lstat saved. */
const _WORKER_MIN = 4096;
/** How long to wait for a batch the worker took before doing it here instead (a hung or dead worker). */
const _WORKER_PATIENCE_MS = 10_000;

/**
 * The fallback: a helper worker takes batches from the front as soon as it starts, and `wait`
 * takes the untaken ones from the back, then waits (Atomics, shared memory) for the worker's.
 */
function _statInJs(top: string, rels: readonly string[]): StatJob {
  const prefix = top === "" || top.endsWith("/") ? top : `${top}/`;
  const batches: { start: number; end: number; shared: SharedArrayBuffer }[] = [];
  for (let start = 0; start < rels.length; start += _BATCH) {
    const end = Math.min(start + _BATCH, rels.length);
    batches.push({ start, end, shared: new SharedArrayBuffer(batchBytes(end - start)) });
  }
  const worker = rels.length >= _WORKER_MIN && navigator.hardwareConcurrency > 1 ? _startWorker() : null;
  for (const b of batches) {
    const msg: StatBatch = { kind: "soc-stat", prefix, paths: rels.slice(b.start, b.end).join("\0"), shared: b.shared };
    worker?.postMessage(msg);
  }
  return {
    wait: () => {
      try {
        for (let i = batches.length - 1; i >= 0; i--) {
          const b = batches[i] as (typeof batches)[number];
          if (claimBatch(b.shared, BY_MAIN)) statBatch(prefix, rels, b.start, b.end, b.shared);
        }
        for (const b of batches) {
          const claim = new Int32Array(b.shared, 0, 1);
          if (Atomics.load(claim, 0) === BY_WORKER && Atomics.wait(claim, 0, BY_WORKER, _WORKER_PATIENCE_MS) === "timed-out") {
            b.shared = new SharedArrayBuffer(batchBytes(b.end - b.start));
            statBatch(prefix, rels, b.start, b.end, b.shared);
          }
        }
      } finally {
        worker?.terminate();
      }
      const stats = new Float64Array(rels.length * STAT_FIELDS);
      for (const b of batches) stats.set(new Float64Array(b.shared, 8, (b.end - b.start) * STAT_FIELDS), b.start * STAT_FIELDS);
      return { stats };
    },
  };
}

/** A helper worker, or null when one cannot be started (the caller then works alone). */
function _startWorker(): Worker | null {
  try {
    return new Worker(new URL("./walk-worker.ts", import.meta.url).href);
  } catch {
    return null;
  }
}
