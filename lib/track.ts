import type { Database } from "bun:sqlite";
import { lstatSync, type Stats } from "node:fs";
import { join } from "node:path";
import { UsageError } from "./errors.ts";
import { IGNORE_FILE, loadIgnore } from "./ignore.ts";
import type { Logger } from "./log.ts";
import { comparePaths, isWithin, toRepoPath } from "./paths.ts";
import { portabilityProblems } from "./portability.ts";
import { isTracked, rulesWithin, setRule, type RootRule } from "./roots.ts";
import { findRepo, type RepoLayout } from "./repo.ts";
import { walkTracked } from "./walk.ts";
import { openState, readBase, readRoots, writeRoots } from "./state.ts";

/** Outcome of `add`/`rm`: how many files are tracked now, and how many that changed. */
export interface TrackSummary {
  tracked: number;
  changed: number;
}

/**
 * Tracks files, or with `recursive` directories (present and future files, minus `.socignore`).
 * Every argument is checked before anything is recorded; a missing path, a directory without
 * `recursive`, a symlink, an ignored path or one outside the tree throws UsageError.
 */
export function addPaths(opts: { cwd: string; args: readonly string[]; recursive: boolean; log: Logger }): TrackSummary {
  return _edit({ ...opts, checkNames: true }, (layout, rules) => {
    const ignored = loadIgnore(layout.top);
    for (const arg of opts.args) {
      const path = toRepoPath(layout.top, opts.cwd, arg);
      const st = _lstat(join(layout.top, path));
      if (!st) throw new UsageError(`${arg}: no such file or directory`);
      if (st.isSymbolicLink()) throw new UsageError(`${arg}: is a symlink; soc never follows symlinks`);
      if (st.isDirectory() && !opts.recursive)
        throw new UsageError(`${arg}: is a directory; use \`soc add -r ${arg}\` to track it and the files it will hold`);
      if (!st.isDirectory() && !st.isFile()) throw new UsageError(`${arg}: not a regular file or directory`);
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
  return _edit(opts, (layout, rules, basePaths) => {
    for (const arg of opts.args) {
      const path = toRepoPath(layout.top, opts.cwd, arg);
      const st = _lstat(join(layout.top, path));
      const isDir = st?.isDirectory() ?? (!basePaths.includes(path) && basePaths.some((p) => isWithin(p, path)));
      if (isDir && !opts.recursive) throw new UsageError(`${arg}: is a directory; use \`soc rm -r ${arg}\``);
      const tracked = isDir ? isTracked(rules, path) || rulesWithin(rules, path).some((r) => r.kind !== "exclude") : isTracked(rules, path);
      if (!tracked) throw new UsageError(`${arg}: not tracked`);
      rules = setRule(rules, path, "exclude", isDir);
    }
    return rules;
  });
}

// ---------------------------------------------------------------------------

function _edit(
  opts: { cwd: string; log: Logger; checkNames?: boolean },
  change: (layout: RepoLayout, rules: RootRule[], basePaths: string[]) => RootRule[],
): TrackSummary {
  const layout = findRepo(opts.cwd);
  using db: Database = openState(layout.dbFile);
  const before = readRoots(db);
  const ignored = loadIgnore(layout.top);
  const after = change(layout, before, [...readBase(db).keys()]);
  const quiet = () => {};
  const count = (rules: RootRule[]) => new Set(walkTracked(layout.top, rules, ignored, quiet).map((f) => f.path));
  const old = count(before);
  const now = new Set(walkTracked(layout.top, after, ignored, (m) => opts.log.warn(m)).map((f) => f.path));
  writeRoots(db, after);
  const added = [...now].filter((p) => !old.has(p)).sort(comparePaths);
  if (opts.checkNames) _warnUnportable(added, [...now], opts.log);
  return { tracked: now.size, changed: added.length + [...old].filter((p) => !now.has(p)).length };
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
