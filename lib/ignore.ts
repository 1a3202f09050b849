import { readFileSync } from "node:fs";
import { join } from "node:path";
import ignore from "ignore";

/** Name of the ignore file at the top of a working tree (gitignore syntax). */
export const IGNORE_FILE = ".socignore";

/** Answers whether a repository path is excluded; directories are asked with a trailing `/`. */
export type IgnoreMatcher = (repoPath: string) => boolean;

/** Always excluded: soc's own state, and the local copies `pull --keep-both` keeps beside a conflict. */
const BUILTIN = [".soc/", "*.conflict-*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9]*"];

/**
 * Loads `.socignore` from the working tree's top (absent = nothing ignored), on top of the
 * built-in exclusions. Patterns follow gitignore, via the `ignore` package.
 */
export function loadIgnore(top: string): IgnoreMatcher {
  const ig = ignore().add(BUILTIN);
  try {
    ig.add(readFileSync(join(top, IGNORE_FILE), "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return (repoPath) => repoPath !== "" && ig.ignores(repoPath);
}
