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
  let patterns: string;
  try {
    patterns = readFileSync(join(top, IGNORE_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    // No patterns of the user's: the built-ins as one regex, far cheaper per path than `ignore`.
    const builtin: IgnoreMatcher = (repoPath) => (repoPath.includes(".soc/") || repoPath.includes(".conflict-")) && _BUILTIN_RE.test(repoPath);
    _builtinOnly.add(builtin);
    return builtin;
  }
  const ig = ignore().add(BUILTIN).add(patterns);
  return (repoPath) => repoPath !== "" && repoPath !== "/" && ig.ignores(repoPath);
}

/**
 * Whether `ignored` is loadIgnore's answer for a tree without a .socignore: only soc's own
 * exclusions apply, which the C walk (stat-core.c) knows by name without asking per path.
 */
export function isBuiltinOnly(ignored: IgnoreMatcher): boolean {
  return _builtinOnly.has(ignored);
}

// ---------------------------------------------------------------------------

const _builtinOnly = new WeakSet<IgnoreMatcher>();

/** BUILTIN as a regex over a whole repository path (directories end in `/`); asked only of paths holding one of its fixed parts. */
const _BUILTIN_RE = /(^|\/)\.soc\/|(^|\/)[^/]*\.conflict-[^/]*-\d{8}-\d{6}[^/]*\/?$/;
