import { rmdirSync } from "node:fs";
import { join } from "node:path";

/**
 * Removes the now-empty directories above `path` (a `/`-separated path under `root`), deepest
 * first, stopping at the first one that is not empty. `root` itself is never removed.
 */
export function pruneEmptyParents(root: string, path: string): void {
  const parts = path.split("/");
  for (let n = parts.length - 1; n > 0; n--) {
    try {
      rmdirSync(join(root, ...parts.slice(0, n)));
    } catch {
      return;
    }
  }
}
