import { lstatSync } from "node:fs";

/**
 * Numbers per path in a stat result: size, mtime seconds, mtime nanoseconds, ctime seconds,
 * ctime nanoseconds, st_mode. A time splits as its nanoseconds since the epoch divided and
 * remaindered by 1e9, truncating toward zero (as SQLite and BigInt do), so every field is exact.
 * st_mode is negative (-errno, or -1) when the path could not be lstat-ed.
 */
export const STAT_FIELDS = 6;

/**
 * One batch of paths for the JS stat fallback (stat-core.ts) to lstat, shared by the main thread
 * and a helper worker. `shared` holds an Int32 claim word at byte 0, then STAT_FIELDS Float64
 * slots per path from byte 8.
 */
export interface StatBatch {
  kind: "soc-stat";
  /** The walk's top with a trailing `/`. */
  prefix: string;
  /** Repository paths joined by NUL, which no path can contain. */
  paths: string;
  shared: SharedArrayBuffer;
}

/** Claim word states: nobody yet, the main thread, a worker (busy), a worker (done). */
export const FREE = 0;
export const BY_MAIN = 1;
export const BY_WORKER = 2;
export const WORKER_DONE = 3;

/** Bytes of shared memory a batch of `n` paths needs. */
export function batchBytes(n: number): number {
  return 8 + n * STAT_FIELDS * 8;
}

/** Takes the batch for `who` unless someone else has; true when the caller owns it now. */
export function claimBatch(shared: SharedArrayBuffer, who: typeof BY_MAIN | typeof BY_WORKER): boolean {
  return Atomics.compareExchange(new Int32Array(shared, 0, 1), 0, FREE, who) === FREE;
}

/** lstats `prefix + rels[i]` for i in [start, end) into the batch's slots. */
export function statBatch(prefix: string, rels: readonly string[], start: number, end: number, shared: SharedArrayBuffer): void {
  const out = new Float64Array(shared, 8, (end - start) * STAT_FIELDS);
  for (let i = start, o = 0; i < end; i++, o += STAT_FIELDS) statInto(prefix + rels[i], out, o);
}

/** lstat of one path into STAT_FIELDS numbers at `out[o]`. */
export function statInto(abs: string, out: Float64Array, o: number): void {
  try {
    const st = lstatSync(abs, { bigint: true });
    out[o] = Number(st.size);
    out[o + 1] = Number(st.mtimeNs / _NS);
    out[o + 2] = Number(st.mtimeNs % _NS);
    out[o + 3] = Number(st.ctimeNs / _NS);
    out[o + 4] = Number(st.ctimeNs % _NS);
    out[o + 5] = Number(st.mode);
  } catch {
    out[o + 5] = -1;
  }
}

const _NS = 1_000_000_000n;

declare const self: Worker;

// This module is also the worker's entry (stat-core.ts starts it by URL); a listener, not `onmessage`,
// so importing it from some other worker changes nothing there.
if (!Bun.isMainThread) {
  self.addEventListener("message", (e: MessageEvent<StatBatch>) => {
    if (e.data?.kind !== "soc-stat") return;
    const { prefix, paths, shared } = e.data;
    // Batches arrive while the main thread is still reading directories; it may have taken this one since.
    if (!claimBatch(shared, BY_WORKER)) return;
    const rels = paths.split("\0");
    statBatch(prefix, rels, 0, rels.length, shared);
    const claim = new Int32Array(shared, 0, 1);
    Atomics.store(claim, 0, WORKER_DONE);
    Atomics.notify(claim, 0);
  });
}
