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

/**
 * A stat of many paths under way. `wait` returns STAT_FIELDS numbers per path, in order, and
 * with `against`, where the C core ran, each path's index in that block or -1 (`match`).
 */
export interface StatJob {
  wait(against?: PathBlock): { stats: Float64Array; match?: Int32Array };
}

/** Which implementation lstats a scan's files: the C core on threads, or the JS fallback. */
export type StatCore = "c" | "js";

/**
 * The implementation `startStat` uses here for `paths` paths: the C core (stat-core.c, compiled
 * at run time by bun:ffi's TinyCC, ~10 ms) from C_CORE_MIN paths on, unless it cannot be built
 * on this system; else the fallback (lstatSync, with a helper worker in a large tree).
 * SOC_STAT_CORE=js or =c picks one for any number of paths (=c still falls back where C cannot run).
 */
export function statCore(paths: number = Number.POSITIVE_INFINITY): StatCore {
  const wanted = process.env.SOC_STAT_CORE;
  if (wanted === "js" || (wanted !== "c" && paths < C_CORE_MIN)) return "js";
  return _core() ? "c" : "js";
}

/** Paths from which the C core pays for its compilation. */
export const C_CORE_MIN = 2000;

/**
 * Starts lstat-ing `top/rel` for every `rel` (never following a final symlink). With the C core
 * the work runs on other threads and this returns at once, so the caller can do something else
 * (read the base) until `wait`; the JS fallback starts a worker in a large tree and does the rest in `wait`.
 */
export function startStat(top: string, rels: readonly string[]): StatJob {
  const core = statCore(rels.length) === "c" ? _core() : undefined;
  if (core && rels.length > 0) {
    // Both buffers are read during the call only: the C side copies the names and fills `out` in soc_stat_wait.
    const names = new TextEncoder().encode(`${rels.join("\0")}\0`);
    const threads = rels.length < _THREAD_MIN ? 1 : Math.min(navigator.hardwareConcurrency, _MAX_THREADS);
    const job = core.soc_stat_start(Buffer.from(`${top}\0`), names, names.length, rels.length, threads);
    if (job !== null) {
      return {
        wait: (against) => {
          const stats = new Float64Array(rels.length * STAT_FIELDS);
          const match = against && new Int32Array(rels.length);
          const block = against?.pathBlock ?? null;
          const done = core.soc_stat_wait(job, stats, block, block?.length ?? 0, against?.count ?? 0, match ?? null);
          if (done === -1) return _statInJs(top, rels).wait();
          return { stats, ...(done === 0 && match ? { match } : {}) };
        },
      };
    }
  }
  return _statInJs(top, rels);
}

// ---------------------------------------------------------------------------

/** Paths below which one thread does it all (a thread costs about as much as 50 lstats). */
const _THREAD_MIN = 512;
const _MAX_THREADS = 8;

interface _CoreSymbols {
  soc_stat_start(top: Buffer, names: Uint8Array, size: number, n: number, threads: number): Pointer | null;
  soc_stat_wait(job: Pointer, out: Float64Array, base: Uint8Array | null, size: number, count: number, match: Int32Array | null): number;
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
        soc_stat_wait: { args: ["ptr", "ptr", "ptr", "i32", "i32", "ptr"], returns: "i32" },
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
