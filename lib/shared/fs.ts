import { randomBytes } from "node:crypto";
import { copyFileSync, linkSync, lstatSync, renameSync, rmdirSync, statSync, unlinkSync, utimesSync } from "node:fs";
import { dirname, join, sep } from "node:path";

/** Whether `path` is a directory, following a symlink (a working tree may be reached through one). */
export function isDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** Whether `path` itself is a directory: a symlink to one is not (for places a client names). */
export function isRealDir(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/**
 * Moves file `from` to `to` by rename. Across filesystems it copies beside the target (mtime
 * kept), renames that into place and unlinks `from`, so readers never see half a file.
 */
export function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    const tmp = tempBeside(to);
    _copyWithTimes(from, tmp);
    renameSync(tmp, to);
    unlinkSync(from);
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
  return join(dirname(path), `.soc-tmp-${randomBytes(8).toString("hex")}`);
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

// ---------------------------------------------------------------------------

function _copyWithTimes(from: string, to: string): void {
  const st = lstatSync(from);
  copyFileSync(from, to);
  utimesSync(to, st.atime, st.mtime);
}
