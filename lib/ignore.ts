import { readFileSync } from "node:fs";
import { join } from "node:path";
import ignore from "ignore";

/** Name of the ignore file at the top of a working tree (gitignore syntax). */
export const IGNORE_FILE = ".socignore";

/** Answers whether a repository path is excluded; directories are asked with a trailing `/`. */
export type IgnoreMatcher = (repoPath: string) => boolean;

/**
 * Loads `.socignore` from the working tree's top (absent = nothing ignored). `.soc/` is
 * always excluded. Patterns follow gitignore, via the `ignore` package.
 */
export function loadIgnore(top: string): IgnoreMatcher {
  const ig = ignore().add(".soc/");
  try {
    ig.add(readFileSync(join(top, IGNORE_FILE), "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return (repoPath) => repoPath !== "" && ig.ignores(repoPath);
}
