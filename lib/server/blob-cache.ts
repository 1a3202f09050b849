import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { linkOrCopy, tempBeside } from "../shared/fs.ts";
import { md5Files } from "../shared/hash.ts";
import type { BlobStore } from "./s3-blobs.ts";

// A node's bounded cache of blobs (--cache DIR): content fetched from the object store, by sha256,
// at `<dir>/<first two hex digits>/<sha256>`. Pulls and pushes never read it in place: each session
// gets hard links to what it needs (views.ts), so letting a blob go from the cache never takes it
// from a session that holds it, and the disk it holds is freed when that session ends.

/** The file that marks a directory as a cache (openBlobCache refuses a directory with files and without it). */
export const CACHE_MARKER = ".soc-cache";

/** A bounded cache of an object store's blobs on this node's disk. */
export interface BlobCache {
  readonly root: string;
  /** Bytes the cache may hold; past that the least recently used blobs go. */
  readonly limitBytes: number;
  /** Bytes it holds now. */
  size(): number;
  /**
   * Hard-links blob `sha256` (of `size` bytes) at `to` (copies it where it cannot), replacing what
   * is there, after fetching it from the object store (checked against its sha256) when the cache
   * does not hold it.
   */
  linkTo(sha256: string, size: number, to: string): Promise<void>;
  /** Re-hashes every blob it holds and lets go those whose bytes are not their sha256 (fetched again when next asked for); returns their keys. */
  check(): Promise<string[]>;
}

/**
 * Opens the cache at `root` over `blobs`, creating it. What a last run left there counts, the
 * least recently written first to go; a file that is no blob (a fetch a crash cut short) is removed.
 */
export function openBlobCache(root: string, blobs: BlobStore, limitBytes: number): BlobCache {
  mkdirSync(root, { recursive: true });
  const marker = join(root, CACHE_MARKER);
  if (!existsSync(marker)) {
    // Never a directory of someone's files: the scan below removes what is not a blob (a new filesystem's lost+found is no one's).
    if (readdirSync(root).some((name) => name !== "lost+found"))
      throw new Error(`${root} holds files but is no soc cache: give --cache a new or empty directory`);
    writeFileSync(marker, "a soc server's cache of blobs, by sha256: safe to delete while the server is stopped\n");
  }
  // Insertion order is recency: a blob used again moves to the end; the first ones go first.
  const held = new Map<string, number>();
  let total = 0;
  for (const { sha256, size } of _scan(root)) {
    held.set(sha256, size);
    total += size;
  }
  const fetching = new Map<string, Promise<void>>();
  const pinned = new Map<string, number>();
  const fileOf = (sha256: string) => join(root, sha256.slice(0, 2), sha256);
  const drop = (sha256: string) => {
    total -= held.get(sha256) ?? 0;
    held.delete(sha256);
    try {
      unlinkSync(fileOf(sha256));
    } catch {
      // gone already: it no longer counts either way
    }
  };
  const ensure = async (sha256: string, size: number): Promise<void> => {
    // One lstat: a blob cut short or grown behind the server's back is fetched again (verify --server finds other damage).
    if (held.has(sha256) && lstatSync(fileOf(sha256), { throwIfNoEntry: false })?.size !== size) drop(sha256);
    if (held.has(sha256)) {
      held.delete(sha256);
      held.set(sha256, size);
      return;
    }
    let fetch = fetching.get(sha256);
    if (!fetch) {
      mkdirSync(dirname(fileOf(sha256)), { recursive: true });
      fetch = blobs.fetch(sha256, size, fileOf(sha256)).then(() => {
        held.set(sha256, size);
        total += size;
      });
      fetching.set(sha256, fetch);
      void fetch.then(
        () => fetching.delete(sha256),
        () => fetching.delete(sha256),
      );
    }
    await fetch;
  };
  const trim = () => {
    for (const sha256 of held.keys()) {
      if (total <= limitBytes) return;
      if (!pinned.has(sha256)) drop(sha256);
    }
  };
  const link = (sha256: string, to: string) => {
    const tmp = tempBeside(to);
    // A copy where no link can be made (the state directory on another filesystem, a blob at its filesystem's link limit).
    linkOrCopy(fileOf(sha256), tmp);
    renameSync(tmp, to);
  };
  return {
    root,
    limitBytes,
    size: () => total,
    async linkTo(sha256, size, to) {
      _checkKey(sha256);
      // Pinned from before the fetch to the link: a trim for another session never takes it in between.
      pinned.set(sha256, (pinned.get(sha256) ?? 0) + 1);
      try {
        await ensure(sha256, size);
        link(sha256, to);
      } finally {
        const n = (pinned.get(sha256) ?? 1) - 1;
        if (n > 0) pinned.set(sha256, n);
        else pinned.delete(sha256);
        trim();
      }
    },
    async check() {
      const keys = [...held.keys()].filter((k) => !pinned.has(k));
      const sha256s: (string | undefined)[] = [];
      await md5Files(keys.map(fileOf), { sha256: sha256s });
      // Hashed once more just before it goes: one let go and fetched again meanwhile is whole; one a session holds stays.
      const suspects = keys.filter((k, i) => sha256s[i] !== k);
      const again: (string | undefined)[] = [];
      await md5Files(suspects.map(fileOf), { sha256: again });
      const damaged = suspects.filter((k, i) => again[i] !== k && held.has(k) && !pinned.has(k));
      for (const k of damaged) drop(k);
      return damaged;
    },
  };
}

/** Parses a cache size: a whole number of bytes, or of K, M, G or T (binary units). */
export function parseCacheSize(value: string): number | undefined {
  const m = /^([0-9]{1,12})([KMGT]?)i?B?$/i.exec(value.trim());
  if (!m) return undefined;
  const unit = { "": 0, K: 1, M: 2, G: 3, T: 4 }[(m[2] ?? "").toUpperCase() as "" | "K" | "M" | "G" | "T"];
  const bytes = Number(m[1]) * 1024 ** unit;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

// ---------------------------------------------------------------------------

function _checkKey(sha256: string): void {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
}

/** The blobs under `root`, oldest written first; a stray or a leftover temp file is removed. */
function _scan(root: string): { sha256: string; size: number }[] {
  const found: { sha256: string; size: number; mtimeMs: number }[] = [];
  for (const dir of readdirSync(root)) {
    const sub = join(root, dir);
    if (!/^[0-9a-f]{2}$/.test(dir) || !lstatSync(sub).isDirectory()) continue;
    for (const name of readdirSync(sub)) {
      const st = lstatSync(join(sub, name));
      if (st.isFile() && /^[0-9a-f]{64}$/.test(name) && name.startsWith(dir)) found.push({ sha256: name, size: st.size, mtimeMs: st.mtimeMs });
      else if (st.isFile()) unlinkSync(join(sub, name)); // a fetch a crash cut short
    }
  }
  return found.sort((a, b) => a.mtimeMs - b.mtimeMs);
}
