import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from "node:fs";
import { dirname, join, sep } from "node:path";
import { libc } from "./libc.ts";

/** The mode bits one side applies for the other: permissions only, never setuid, setgid or sticky from a peer. */
export const PERMISSION_BITS = 0o777;

/** Whether an fs error says nothing is there (ENOENT, or ENOTDIR: a parent is a file): the only errors that mean "gone". */
export function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * The first directory above `path` (a `/`-separated path under `root`) that is not a real
 * directory: a symlink ("link"), something else ("file") or nothing ("missing"); undefined when
 * every parent is a real directory. `realDirs` remembers the parents (relative) found real, so a
 * batch lstats each once. Whoever writes under `root` by name checks this first: a link is never
 * followed.
 */
export function firstNonDirParent(root: string, path: string, realDirs: Set<string>): { rel: string; kind: "link" | "file" | "missing" } | undefined {
  let rel = "";
  for (const name of path.split("/").slice(0, -1)) {
    rel = rel ? `${rel}/${name}` : name;
    if (realDirs.has(rel)) continue;
    const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
    if (!st) return { rel, kind: "missing" };
    if (st.isSymbolicLink()) return { rel, kind: "link" };
    if (!st.isDirectory()) return { rel, kind: "file" };
    realDirs.add(rel);
  }
  return undefined;
}

/** Whether `path` is a directory, following a symlink (a working tree may be reached through one). */
export function isDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** Whether `path` itself is a directory: a symlink to one is not (for places a client names); false when it cannot be lstat-ed. */
export function isRealDir(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false; // under a file (ENOTDIR), or not ours to look at (EACCES)
  }
}

/** Sets `path`'s atime and mtime to `mtimeNs` (nanoseconds since the epoch, decimal), to the microsecond: utimes takes a double. */
export function setMtimeNs(path: string, mtimeNs: string): void {
  const seconds = Number(BigInt(mtimeNs) / 1000n) / 1e6;
  utimesSync(path, seconds, seconds);
}

/**
 * Moves file `from` to `to`. With `replace`, by rename: atomic, whatever was at `to` is replaced.
 * Without, `to` must not exist: link, then unlink `from`, so a file that appeared there meanwhile
 * is never replaced (the error is EEXIST). Across filesystems (a mount point below the target)
 * the bytes are copied to a temp file beside `to` (mode and mtime kept) and fsynced first, then
 * put in place the same way, so no reader ever sees half a file.
 */
export function placeFile(from: string, to: string, opts: { replace: boolean }): void {
  try {
    return _put(from, to, opts.replace);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
  }
  const tmp = tempBeside(to);
  try {
    _copyWithTimes(from, tmp);
    fsyncPath(tmp);
    _put(tmp, to, opts.replace);
  } finally {
    rmSync(tmp, { force: true }); // only left by a failure
  }
  unlinkSync(from);
}

/**
 * The target of symlink `path`, read with readlink (never followed). Throws the fs error (EINVAL:
 * not a symlink), or EILSEQ when the target is not UTF-8 (no repository path or target can hold it).
 */
export function readSymlink(path: string): string {
  const target = readlinkSync(path, { encoding: "buffer" });
  try {
    return _UTF8.decode(target);
  } catch {
    throw Object.assign(new Error(`${path}: symlink target is not UTF-8`), { code: "EILSEQ" });
  }
}

const _UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Makes a symlink to `target` at `to`, never following one. With `replace`, it is made beside `to`
 * and renamed over it (atomic: whatever was there is replaced). Without, `to` must not exist (the
 * error is EEXIST), so something that appeared there meanwhile is never replaced.
 */
export function placeSymlink(target: string, to: string, opts: { replace: boolean }): void {
  if (!opts.replace) return symlinkSync(target, to);
  const tmp = tempBeside(to);
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, to);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Hard-links `from` at `to`, or copies it (mtime kept) where links are impossible (another filesystem, no link support). */
export function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EMLINK") throw error;
    _copyWithTimes(from, to);
  }
}

/** A fresh name beside `path` (same directory, so a rename from it is atomic): `.soc-tmp-<random>`. */
export function tempBeside(path: string): string {
  // The Web Crypto global: loading node:crypto would cost every command several ms.
  return join(dirname(path), `.soc-tmp-${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex")}`);
}

/**
 * Removes each entry of `dir` (a whole tree for a directory) whose own mtime is before `cutoffMs`,
 * unless `keep(name)`: the sweep of sessions given up. A `dir` that is not there holds nothing.
 */
export function removeStale(dir: string, cutoffMs: number, keep: (name: string) => boolean = () => false): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const st = lstatSync(join(dir, name), { throwIfNoEntry: false });
    if (st && st.mtimeMs < cutoffMs && !keep(name)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Removes the now-empty directories above `path` (a `/`-separated path under `root`), deepest
 * first, stopping at the first one that is not empty. `root` itself is never removed.
 */
export function pruneEmptyParents(root: string, path: string): void {
  pruneEmptyDirs(root, dirname(join(root, path)));
}

/** Removes `dir` (absolute, under `root`) and its parents while they are empty; never `root`. */
export function pruneEmptyDirs(root: string, dir: string): void {
  for (let cur = dir; cur.startsWith(root + sep); cur = dirname(cur)) {
    try {
      rmdirSync(cur);
    } catch {
      return; // not empty (or already gone): stop here
    }
  }
}

/**
 * Makes `files` and the entries of `dirs` durable: a power loss after this keeps them. On Linux
 * one syncfs(2) per filesystem does it (a thousand fsyncs cost about 15 times as much); elsewhere
 * each file and directory is fsynced. Throws when the disk could not write them (EIO).
 */
export function syncPaths(files: readonly string[], dirs: readonly string[]): void {
  const allDirs = [...new Set([...dirs, ...files.map((f) => dirname(f))])].filter((d) => existsSync(d));
  const syncfs = _syncfs();
  if (syncfs === undefined) {
    for (const path of [...files, ...allDirs]) fsyncPath(path);
    return;
  }
  const oneDirPerDevice = new Map<number, string>();
  for (const dir of allDirs) {
    const st = statSync(dir, { throwIfNoEntry: false });
    if (st && !oneDirPerDevice.has(st.dev)) oneDirPerDevice.set(st.dev, dir);
  }
  for (const dir of oneDirPerDevice.values()) {
    const fd = openSync(dir, "r");
    try {
      if (syncfs(fd) !== 0) throw new Error(`syncfs ${dir} failed (errno ${libc().errno()})`);
    } finally {
      closeSync(fd);
    }
  }
}

/** Every directory from each of `paths`' parents up to `root` (absolute, `root` included), each once: what syncPaths must cover for new entries below `root`. */
export function parentDirs(root: string, paths: Iterable<string>): string[] {
  const dirs = new Set<string>([root]);
  for (const path of paths) {
    for (let dir = dirname(path); dir.startsWith(root + sep) && !dirs.has(dir); dir = dirname(dir)) dirs.add(dir);
  }
  return [...dirs];
}

/** fsync(2) of one file or directory. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------

/** Puts `from` at `to` on one filesystem, consuming `from`: rename, or link + unlink when `to` must not exist. */
function _put(from: string, to: string, replace: boolean): void {
  if (replace) return renameSync(from, to);
  try {
    linkSync(from, to);
    unlinkSync(from);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EMLINK") throw error;
    // No hard links here: check, then rename (a narrow window instead of none).
    if (lstatSync(to, { throwIfNoEntry: false })) throw Object.assign(new Error(`EEXIST: ${to} exists`), { code: "EEXIST" });
    renameSync(from, to);
  }
}

function _copyWithTimes(from: string, to: string): void {
  const st = lstatSync(from);
  copyFileSync(from, to);
  chmodSync(to, st.mode & 0o7777);
  utimesSync(to, st.atime, st.mtime);
}

/** libc's syncfs, or undefined where there is none (macOS, a libc bun:ffi cannot load). */
function _syncfs(): ((fd: number) => number) | undefined {
  try {
    return libc().syncfs;
  } catch {
    return undefined;
  }
}
