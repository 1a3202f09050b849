import { lstatSync } from "node:fs";

/**
 * One batch of paths for `walkTracked` to lstat, shared by the main thread and a helper worker.
 * `shared` holds an Int32 claim word at byte 0, then four BigInt64 slots per path from byte 8:
 * size, mtime ns, ctime ns, st_mode (-1 when the path could not be lstat'ed).
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
  return 8 + n * 32;
}

/** Takes the batch for `who` unless someone else has; true when the caller owns it now. */
export function claimBatch(shared: SharedArrayBuffer, who: typeof BY_MAIN | typeof BY_WORKER): boolean {
  return Atomics.compareExchange(new Int32Array(shared, 0, 1), 0, FREE, who) === FREE;
}

/** lstats `prefix + rels[i]` for i in [start, end) into the batch's slots. */
export function statBatch(prefix: string, rels: readonly string[], start: number, end: number, shared: SharedArrayBuffer): void {
  const out = new BigInt64Array(shared, 8, (end - start) * 4);
  for (let i = start, o = 0; i < end; i++, o += 4) {
    try {
      const st = lstatSync(prefix + rels[i], { bigint: true });
      out[o] = st.size;
      out[o + 1] = st.mtimeNs;
      out[o + 2] = st.ctimeNs;
      out[o + 3] = st.mode;
    } catch {
      out[o + 3] = -1n;
    }
  }
}

declare const self: Worker;

// This module is also the worker's entry (walk.ts starts it by URL); a listener, not `onmessage`,
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
