import { closeSync, constants, openSync, readSync } from "node:fs";
import { isGone, readSymlink } from "./fs.ts";

const CHUNK = 1024 * 1024;
/** Opens for reading, refusing a symlink at the last step (ELOOP): a file swapped for a link after its lstat is never read through. */
const _READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;
/** Hashing time before md5Files considers helper workers: enough to judge the rate, and a small batch is done by then. */
const HELP_AFTER_MS = 25;
/** Hashing still to do, projected from the rate so far, below which helpers are not worth starting: one costs 30-80 ms to start here, and it only takes a share of what is left. */
const HELP_WORTH_MS = 200;
/** At most this many helper workers, whatever the core count (each holds a copy of the path list). */
const _MAX_HELPERS = 3;

/** Hex md5 of a file's bytes, streamed in 1 MiB reads. Throws the fs error if it cannot be read (ELOOP for a symlink: never followed). */
export function md5File(path: string, buf: Uint8Array = new Uint8Array(CHUNK)): string {
  return _md5File(path, buf);
}

/** Hex md5 of the target of the symlink at `path`, read without following it; null when there is none to read (gone, no longer a link). */
export function md5OfSymlink(path: string): string | null {
  try {
    return md5Bytes(readSymlink(path));
  } catch {
    return null;
  }
}

/** Hex md5 of in-memory bytes. */
export function md5Bytes(data: Uint8Array | string): string {
  return new Bun.CryptoHasher("md5").update(data).digest("hex");
}

/** Why a file that exists could not be hashed: the fs error code (EACCES, EIO, …). */
export interface Unreadable {
  error: string;
}

/**
 * md5Files' answer for one file: its hex md5; null when it is gone (ENOENT, or ENOTDIR: a parent
 * became a file); Unreadable for any other error. Only null may ever be taken for a deletion.
 */
export type FileDigest = string | null | Unreadable;

/** The md5 of a FileDigest, or null when there is none (gone or unreadable). */
export function digestOrNull(d: FileDigest | undefined): string | null {
  return typeof d === "string" ? d : null;
}

/**
 * Hashes many files; results in input order (see FileDigest). A file that vanished or cannot be
 * read mid-scan gets null or Unreadable instead of failing the whole batch.
 * Batches that take more than `helpAfterMs` (default 5 ms) are shared with helper workers (one
 * per spare core), which claim files from the same shared counter as this thread.
 * `onProgress(claimed, total)` is called after each file this thread hashes (claimed: files
 * hashed or being hashed by any thread) and once with `total` at the end. With `sha256`, each
 * hashed file's sha256 is also put there at its index, from the same reads.
 */
export async function md5Files(
  paths: readonly string[],
  opts: { helpAfterMs?: number; onProgress?: (claimed: number, total: number) => void; sha256?: (string | undefined)[] } = {},
): Promise<FileDigest[]> {
  const sha256 = opts.sha256;
  const helpAfterMs = opts.helpAfterMs ?? HELP_AFTER_MS;
  const out = new Array<FileDigest | undefined>(paths.length);
  const next = new Int32Array(new SharedArrayBuffer(4));
  const buf = new Uint8Array(CHUNK);
  const started = performance.now();
  const workers: Worker[] = [];
  const done: Promise<void>[] = [];
  let asked = false;
  const maybeHelp = (): void => {
    if (asked) return;
    const elapsed = performance.now() - started;
    const claimed = Atomics.load(next, 0);
    if (elapsed < helpAfterMs || claimed >= paths.length - 1) return;
    // Help only when what is left would take longer than starting helpers costs (the one in hand is not done yet).
    const finished = claimed - 1;
    if (finished > 0 && (elapsed / finished) * (paths.length - claimed) < HELP_WORTH_MS) return;
    asked = true;
    const job: HashJob = { paths: paths.join("\0"), next: next.buffer as SharedArrayBuffer, sha256: sha256 !== undefined };
    for (let i = Math.min(navigator.hardwareConcurrency - 1, _MAX_HELPERS); i > 0; i--) {
      const worker = new Worker(new URL("./hash-worker.ts", import.meta.url).href);
      workers.push(worker);
      done.push(_collect(worker, out, sha256));
      worker.postMessage(job);
    }
  };
  try {
    for (let i = Atomics.add(next, 0, 1); i < paths.length; i = Atomics.add(next, 0, 1)) {
      out[i] = _digest(paths[i] as string, buf, sha256 && { into: sha256, at: i }, maybeHelp);
      maybeHelp();
      opts.onProgress?.(Math.min(Atomics.load(next, 0), paths.length), paths.length);
    }
    await Promise.all(done);
  } finally {
    for (const w of workers) w.terminate();
  }
  // A worker that died mid-way never reported the files it had claimed: hash those here.
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) out[i] = _digest(paths[i] as string, buf, sha256 && { into: sha256, at: i });
  opts.onProgress?.(paths.length, paths.length);
  return out as FileDigest[];
}

/** What md5Files sends a helper worker: NUL-joined paths and the shared next-index counter. */
export interface HashJob {
  paths: string;
  next: SharedArrayBuffer;
  /** Each file's sha256 too. */
  sha256: boolean;
}

/** What a helper worker sends back: the indexes it claimed and their digests, same order. */
export interface HashResult {
  indexes: number[];
  sums: FileDigest[];
  /** The sha256 of each, when the job asked (undefined for a file that could not be read). */
  sha256s?: (string | undefined)[];
}

/** Hashes files claimed from `job.next` until none are left (the loop a helper worker runs). */
export function hashClaimed(job: HashJob): HashResult {
  const paths = job.paths.split("\0");
  const next = new Int32Array(job.next);
  const buf = new Uint8Array(CHUNK);
  const result: HashResult = { indexes: [], sums: [], ...(job.sha256 ? { sha256s: [] } : {}) };
  for (let i = Atomics.add(next, 0, 1); i < paths.length; i = Atomics.add(next, 0, 1)) {
    result.indexes.push(i);
    result.sums.push(_digest(paths[i] as string, buf, result.sha256s && { into: result.sha256s, at: result.sums.length }));
  }
  return result;
}

// ---------------------------------------------------------------------------

/** Where a file's sha256 goes, when it is asked for: `into[at]`. */
type _Sha256Slot = { into: (string | undefined)[]; at: number } | undefined;

function _digest(path: string, buf: Uint8Array, sha256: _Sha256Slot, onChunk?: () => void): FileDigest {
  try {
    return _md5File(path, buf, onChunk, sha256);
  } catch (error) {
    return isGone(error) ? null : { error: (error as NodeJS.ErrnoException).code ?? String(error) };
  }
}

function _md5File(path: string, buf: Uint8Array, onChunk?: () => void, sha256?: _Sha256Slot): string {
  const hasher = new Bun.CryptoHasher("md5");
  const also = sha256 && new Bun.CryptoHasher("sha256");
  const fd = openSync(path, _READ_NOFOLLOW);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const chunk = n === buf.length ? buf : buf.subarray(0, n);
      hasher.update(chunk);
      also?.update(chunk);
      onChunk?.();
    }
  } finally {
    closeSync(fd);
  }
  if (sha256 && also) sha256.into[sha256.at] = also.digest("hex");
  return hasher.digest("hex");
}

/** Resolves once `worker` has reported (its digests copied into `out`), failed, or exited. */
function _collect(worker: Worker, out: (FileDigest | undefined)[], sha256?: (string | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    worker.onmessage = (e: MessageEvent<HashResult>) => {
      const { indexes, sums, sha256s } = e.data;
      for (let k = 0; k < indexes.length; k++) {
        out[indexes[k] as number] = sums[k] ?? null;
        if (sha256) sha256[indexes[k] as number] = sha256s?.[k];
      }
      resolve();
    };
    worker.onerror = () => resolve();
    worker.addEventListener("close", () => resolve());
  });
}
