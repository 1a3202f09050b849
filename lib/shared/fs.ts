import { rmdirSync } from "node:fs";
import { dirname, join, sep } from "node:path";

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
