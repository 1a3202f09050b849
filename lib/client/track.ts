import type { Database } from "bun:sqlite";
import { lstatSync, type Stats } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../shared/errors.ts";
import { IGNORE_FILE, loadIgnore, type IgnoreMatcher } from "./ignore.ts";
import type { Logger } from "./log.ts";
import { toRepoPath } from "../shared/paths.ts";
import { portabilityProblems } from "./portability.ts";
import { isTracked, rulesWithin, setRule, trackerFor, type RootRule } from "./roots.ts";
import { findRepo, type RepoLayout } from "./repo.ts";
import { walkPaths } from "./walk.ts";
import { baseHas, baseHasBelow, openState, readRoots, writeRoots } from "./state.ts";

/** Outcome of `add`/`rm`: how many files are tracked now, and how many that changed. */
export interface TrackSummary {
  tracked: number;
  changed: number;
}

/**
 * Tracks files and symlinks (the link itself, never what it points at), or with `recursive`
 * directories (present and future files, minus `.socignore`). Every argument is checked before
 * anything is recorded; a missing path, a directory without `recursive`, a special file, an
 * ignored path or one outside the tree throws UsageError.
 */
export function addPaths(opts: { cwd: string; args: readonly string[]; recursive: boolean; log: Logger }): TrackSummary {
  return _edit({ ...opts, adds: true }, (layout, rules, { ignored }) => {
    for (const arg of opts.args) {
      const path = toRepoPath(layout.top, opts.cwd, arg);
      const st = _lstat(join(layout.top, path));
      if (!st) throw new UsageError(`${arg}: no such file or directory`);
      if (st.isDirectory() && !opts.recursive)
        throw new UsageError(`${arg}: is a directory; use \`soc add -r ${arg}\` to track it and the files it will hold`);
      if (!st.isDirectory() && !st.isFile() && !st.isSymbolicLink()) throw new UsageError(`${arg}: not a regular file, symlink or directory`);
      if (ignored(st.isDirectory() ? `${path}/` : path)) throw new UsageError(`${arg}: is ignored by ${IGNORE_FILE}`);
      rules = setRule(rules, path, st.isDirectory() ? "dir" : "file", st.isDirectory());
    }
    return rules;
  });
}

/**
 * Stops tracking paths (files stay on disk). Like `git rm --cached`: once pushed, they count
 * as deleted for the server. A directory needs `recursive`; an untracked path throws UsageError.
 */
export function removePaths(opts: { cwd: string; args: readonly string[]; recursive: boolean; log: Logger }): TrackSummary {
  return _edit({ ...opts, adds: false }, (layout, rules, { db }) => {
    for (const arg of opts.args) {
      const path = toRepoPath(layout.top, opts.cwd, arg);
      const st = _lstat(join(layout.top, path));
      // Gone from disk: a directory if the base holds files beneath it (and not a file at it).
      const isDir = st?.isDirectory() ?? (!baseHas(db, path) && baseHasBelow(db, path));
      if (isDir && !opts.recursive) throw new UsageError(`${arg}: is a directory; use \`soc rm -r ${arg}\``);
      const tracked = isDir ? isTracked(rules, path) || rulesWithin(rules)(path).some((r) => r.kind !== "exclude") : isTracked(rules, path);
      if (!tracked) throw new UsageError(`${arg}: not tracked`);
      rules = setRule(rules, path, "exclude", isDir);
    }
    return rules;
  });
}

// ---------------------------------------------------------------------------

/**
 * Applies `change` to the tracked-root rules and reports what that did, with one walk: an add
 * only grows the tracked set and a remove only shrinks it, so walking the larger rule set and
 * asking the smaller one about each file finds both. Portability is checked for what an add tracks anew.
 */
function _edit(
  opts: { cwd: string; log: Logger; adds: boolean },
  change: (layout: RepoLayout, rules: RootRule[], ctx: { ignored: IgnoreMatcher; db: Database }) => RootRule[],
): TrackSummary {
  const layout = findRepo(opts.cwd);
  using db: Database = openState(layout.dbFile);
  const ignored = loadIgnore(layout.top);
  const before = readRoots(db);
  const after = change(layout, before, { ignored, db });
  const [larger, smaller] = opts.adds ? [after, before] : [before, after];
  // Warnings (special files) concern what stays tracked: an add's new set only.
  const warn = opts.adds ? (m: string) => opts.log.warn(m) : () => {};
  const all = walkPaths(layout.top, larger, ignored, warn);
  const inSmaller = trackerFor(smaller);
  const changedPaths = all.filter((p) => !inSmaller(p));
  writeRoots(db, after);
  if (opts.adds) _warnUnportable(changedPaths, all, opts.log);
  return { tracked: opts.adds ? all.length : all.length - changedPaths.length, changed: changedPaths.length };
}

function _warnUnportable(added: string[], tracked: string[], log: Logger): void {
  const problems = portabilityProblems(added, tracked);
  if (problems.length === 0) return;
  const heading = `${problems.length} name${problems.length === 1 ? "" : "s"} will not sync to Windows or macOS as they are (tracked anyway):`;
  log.warn([heading, ...problems.map((p) => `  ${p}`)].join("\n"));
}

function _lstat(abs: string): Stats | undefined {
  try {
    return lstatSync(abs);
  } catch {
    return undefined;
  }
}
