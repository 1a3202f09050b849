import { lstatSync, readdirSync, type BigIntStats, type Dirent } from "node:fs";
import { join } from "node:path";
import type { IgnoreMatcher } from "./ignore.ts";
import { batchBytes, BY_MAIN, BY_WORKER, claimBatch, statBatch, type StatBatch } from "./walk-worker.ts";
import { walkStarts, type RootRule } from "./roots.ts";

/** What lstat says about one tracked regular file. */
export interface FileStat {
  path: string;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
}

/**
 * Walks the tracked roots under `top` and lstats every tracked regular file. Ignored paths and
 * `.soc/` are skipped; symlinks and special files are skipped with one `warn` each, never followed.
 */
export function walkTracked(top: string, rules: readonly RootRule[], ignored: IgnoreMatcher, warn: (msg: string) => void): FileStat[] {
  const excluded = new Set(rules.filter((r) => r.kind === "exclude").map((r) => r.path));
  const queue = _statQueue(top);
  const visit = (rel: string, known?: EntryType): void => {
    if (excluded.size > 0 && excluded.has(rel)) return;
    const type = known ?? _typeOf(_lstatExact(rel === "" ? top : join(top, rel)));
    if (type === "file") queue.add(rel);
    else if (type === "dir") {
      if (rel !== "" && ignored(`${rel}/`)) return;
      const prefix = rel === "" ? "" : `${rel}/`;
      for (const child of _readdir(rel === "" ? top : join(top, rel), warn)) visit(prefix + child.name, _direntType(child));
      queue.flush();
    } else if (type !== undefined && !ignored(rel)) {
      warn(`skipping ${type === "link" ? "symlink" : "special file"} ${JSON.stringify(rel)} (not followed, not tracked)`);
    }
  };
  for (const start of walkStarts(rules)) {
    const type = _typeOf(_lstatExact(start.path === "" ? top : join(top, start.path)));
    if (start.kind === "file" ? type !== "dir" : type === "dir" || type === "link") visit(start.path, type);
  }
  return queue.finish(ignored);
}

/** A FileStat from a bigint lstat. */
export function toFileStat(path: string, st: BigIntStats): FileStat {
  return { path, size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, mode: Number(st.mode) & 0o7777 };
}

// ---------------------------------------------------------------------------

/** lstat with exact nanoseconds; undefined when the path cannot be lstat-ed. */
function _lstatExact(abs: string): BigIntStats | undefined {
  try {
    return lstatSync(abs, { bigint: true });
  } catch {
    return undefined;
  }
}

type EntryType = "file" | "dir" | "link" | "special";

function _typeOf(st: BigIntStats | undefined): EntryType | undefined {
  if (!st) return undefined;
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "special";
}

/** The entry's type from readdir's d_type; undefined when the filesystem did not say. */
function _direntType(d: Dirent): EntryType | undefined {
  if (d.isFile()) return "file";
  if (d.isDirectory()) return "dir";
  if (d.isSymbolicLink()) return "link";
  if (d.isFIFO() || d.isSocket() || d.isBlockDevice() || d.isCharacterDevice()) return "special";
  return undefined;
}

/** Paths per lstat batch, the unit the main thread and the helper worker take turns on. */
const _BATCH = 1024;
/** Files found before a helper worker is started: it costs ~3 ms to start, ~2.5 µs per lstat saved. */
const _WORKER_MIN = 4096;
/** How long to wait for a batch the worker took before doing it here instead (a hung or dead worker). */
const _WORKER_PATIENCE_MS = 10_000;

/** rels[start, end) and the shared memory their lstat results go to (see walk-worker.ts). */
interface _Batch {
  start: number;
  end: number;
  shared: SharedArrayBuffer;
}

/**
 * Collects the walk's regular files and lstats them in batches. In a large tree a worker lstats
 * batches while this thread is still reading directories; at the end this thread takes the
 * untaken batches from the back and waits (Atomics, shared memory) for those the worker took.
 * lstat dominates a no-op status (one syscall per file). Files are matched against the ignore
 * rules only in `finish`, while the worker is already busy: an ignored file costs a wasted lstat,
 * never a read. Synchronous on purpose, so walkTracked keeps its signature.
 */
function _statQueue(top: string): { add(rel: string): void; flush(): void; finish(ignored: IgnoreMatcher): FileStat[] } {
  const prefix = top === "" || top.endsWith("/") ? top : `${top}/`;
  const rels: string[] = [];
  const batches: _Batch[] = [];
  let worker: Worker | null | undefined;
  const post = (b: _Batch) => {
    const msg: StatBatch = { kind: "soc-stat", prefix, paths: rels.slice(b.start, b.end).join("\0"), shared: b.shared };
    worker?.postMessage(msg);
  };
  const cut = (all: boolean) => {
    for (let at = batches.at(-1)?.end ?? 0; rels.length - at >= _BATCH || (all && rels.length > at);) {
      const end = Math.min(at + _BATCH, rels.length);
      batches.push({ start: at, end, shared: new SharedArrayBuffer(batchBytes(end - at)) });
      at = end;
      if (!all) post(batches.at(-1) as _Batch);
    }
  };
  return {
    add: (rel) => void rels.push(rel),
    flush: () => {
      cut(false);
      if (worker === undefined && rels.length >= _WORKER_MIN && navigator.hardwareConcurrency > 1) {
        worker = _startWorker(new URL("./walk-worker.ts", import.meta.url).href);
        batches.forEach(post);
      }
    },
    finish: (ignored) => {
      cut(true);
      const keep = rels.map((rel) => !ignored(rel));
      try {
        for (let i = batches.length - 1; i >= 0; i--) {
          const b = batches[i] as _Batch;
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
      return batches.flatMap((b) => _fileStats(rels, keep, b.start, b.end, b.shared));
    },
  };
}

/** A helper worker, or null when one cannot be started (the caller then works alone). */
function _startWorker(url: string): Worker | null {
  try {
    return new Worker(url);
  } catch {
    return null;
  }
}

/** The regular files of one finished batch; a path that vanished or changed type since readdir is left out. */
function _fileStats(rels: readonly string[], keep: readonly boolean[], start: number, end: number, shared: SharedArrayBuffer): FileStat[] {
  const slots = new BigInt64Array(shared, 8, (end - start) * 4);
  const out: FileStat[] = [];
  for (let i = start, o = 0; i < end; i++, o += 4) {
    const mode = Number(slots[o + 3]);
    if (keep[i] && mode !== -1 && (mode & 0o170000) === 0o100000) {
      out.push({
        path: rels[i] as string,
        size: Number(slots[o]),
        mtimeNs: slots[o + 1] as bigint,
        ctimeNs: slots[o + 2] as bigint,
        mode: mode & 0o7777,
      });
    }
  }
  return out;
}

function _readdir(abs: string, warn: (msg: string) => void): Dirent[] {
  try {
    return readdirSync(abs, { withFileTypes: true });
  } catch (err) {
    warn(`cannot read directory ${abs}: ${(err as Error).message}`);
    return [];
  }
}
