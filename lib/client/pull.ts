import { lstatSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SocError } from "../shared/errors.ts";
import { syncPaths } from "../shared/fs.ts";
import { md5Files } from "../shared/hash.ts";
import { checkRepoPath, comparePaths } from "../shared/paths.ts";
import type { Changes, FileRow } from "../shared/protocol.ts";
import { holdsSymlinks, keepsModes, nameLimitsAt, unholdable, type NameLimits } from "./portability.ts";
import { meterTransfer, noProgress, type Progress } from "./progress.ts";
import { applyPull } from "./pull-apply.ts";
import { planPull, type PullPlan } from "./pull-plan.ts";
import { applyRootChanges, diffRoots } from "./push.ts";
import { normalizeRules } from "./roots.ts";
import type { SyncSession } from "./session.ts";
import { basePaths, getMeta, noteRevision, readBaseFor, readRoots, setMeta, updateBase, writeRoots } from "./state.ts";

/** What a pull did (or, with dryRun, would do); printed by `soc pull --json`. */
export interface PullResult {
  revision: number;
  transferred: string[];
  deleted: string[];
  conflicts: string[];
  /** Local copies kept beside the server's version by `--keep-both`. */
  keptBoth: string[];
  /** Paths this machine's filesystem cannot hold (portability.ts), left on the server, with why. */
  refused: { path: string; why: string }[];
  /** Symlinks this filesystem cannot make (holdsSymlinks): skipped, never counted as deleted. */
  linksSkipped: string[];
}

/** How many times a pull refetches when a push lands while it downloads. */
const ATTEMPTS = 3;

/**
 * Brings in the server's changes since the local revision. Locally modified files are never
 * overwritten or deleted: they are reported as conflicts, or with `keepBoth` renamed beside the
 * server's version. Downloads land in `.soc/tmp` and count only after their md5 matches the table.
 * `progress` shows the download and its check (the caller erases it if this throws).
 */
export async function pull(s: SyncSession, opts: { dryRun?: boolean; keepBoth?: boolean; progress?: Progress } = {}): Promise<PullResult> {
  const progress = opts.progress ?? noProgress;
  let probed: NameLimits | undefined; // probed once, and only by a pull that writes something
  const limits = () => (probed ??= nameLimitsAt(s.layout.tmpDir, process.env));
  let symlinks: boolean | undefined; // probed only by a pull that brings a symlink
  const holdsLinks = () => (symlinks ??= holdsSymlinks(s.layout.tmpDir, process.env));
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const since = Number(getMeta(s.db, "revision") ?? "0");
    const changes = await s.remote.changes(since);
    for (const row of changes.files) checkRepoPath(row.path);
    const refused = _unholdable(s, changes.files, limits);
    const { rows, linksSkipped } = _withoutLinks(refused.size ? changes.files.filter((r) => !refused.has(r.path)) : changes.files, holdsLinks);
    const plan = planPull(
      s.layout.top,
      rows,
      readBaseFor(
        s.db,
        changes.files.map((r) => r.path),
      ),
      opts.keepBoth === true,
    );
    if (opts.dryRun) return _result(changes.revision, plan, [], refused, linksSkipped);
    const staged = join(s.layout.tmpDir, `pull-${process.pid}`);
    rmSync(staged, { recursive: true, force: true });
    mkdirSync(staged, { recursive: true });
    try {
      const files = plan.take.filter((r) => r.link === undefined); // a symlink is made from its row's target
      const meter = meterTransfer(
        progress,
        "receive",
        files.reduce((sum, r) => sum + r.size, 0),
      );
      await s.transport.download(files, staged, meter.onProgress);
      meter.finish();
      const verified = await _verify(staged, files, (done, total) => progress.update("verifying", done, total));
      progress.finish();
      if (!verified) continue;
      syncPaths([], [staged]); // durable before it is renamed into the tree: a crash never leaves an empty file there
      const { put, forget, kept } = applyPull(s.layout.top, staged, plan, {
        modes: plan.chmod.length === 0 || keepsModes(s.layout.tmpDir, process.env), // probed only when a mode is to change
      });
      updateBase(s.db, put, forget);
      _mergeRoots(s, changes);
      // Unresolved conflicts and refused names are fetched again by the next pull: stop just below the oldest.
      const left = [...plan.conflicts, ...changes.files.filter((r) => refused.has(r.path))];
      const floor = left.reduce((low, c) => Math.min(low, c.rev - 1), changes.revision);
      setMeta(s.db, "revision", String(Math.max(since, floor)));
      noteRevision(s.db, changes.revision);
      return _result(changes.revision, plan, kept, refused, linksSkipped);
    } finally {
      rmSync(staged, { recursive: true, force: true });
    }
  }
  throw new SocError(
    "pull_unstable",
    `the files downloaded differed from the server's table in each of ${ATTEMPTS} attempts: its files kept changing, or its copy is damaged (\`soc verify --server\` checks it); run \`soc pull\` again`,
  );
}

// ---------------------------------------------------------------------------

function _result(revision: number, plan: PullPlan, keptBoth: string[], refused: ReadonlyMap<string, string>, linksSkipped: string[]): PullResult {
  return {
    revision,
    transferred: plan.take.map((r) => r.path).sort(comparePaths),
    deleted: plan.remove.map((r) => r.path).sort(comparePaths),
    conflicts: plan.conflicts.map((r) => r.path).sort(comparePaths),
    keptBoth: keptBoth.sort(comparePaths),
    refused: [...refused].map(([path, why]) => ({ path, why })).sort((a, b) => comparePaths(a.path, b.path)),
    linksSkipped: linksSkipped.sort(comparePaths),
  };
}

/**
 * `rows` as this filesystem can follow them: where it cannot make symlinks (holdsSymlinks), a
 * symlink row counts as its path's deletion (a clean file there goes, as the server no longer has
 * it; an edited one is a conflict), so nothing is made and no base entry is kept that a push
 * could take for a deleted link.
 */
function _withoutLinks(rows: readonly FileRow[], holdsLinks: () => boolean): { rows: readonly FileRow[]; linksSkipped: string[] } {
  const links = rows.filter((r) => !r.deleted && r.link !== undefined);
  if (links.length === 0 || holdsLinks()) return { rows, linksSkipped: [] };
  return {
    rows: rows.map((r) => (r.deleted || r.link === undefined ? r : { ...r, deleted: true, link: undefined, md5: "", size: 0 })),
    linksSkipped: links.map((r) => r.path),
  };
}

/** The rows' paths this filesystem cannot hold (a name Windows refuses, a clash by case with a path that stays), with why. */
function _unholdable(s: SyncSession, rows: readonly FileRow[], limits: () => NameLimits): Map<string, string> {
  const incoming = rows.filter((r) => !r.deleted).map((r) => r.path);
  if (incoming.length === 0) return new Map(); // a pull that writes nothing: no probe, no pass over the base
  const { windows, caseInsensitive } = limits();
  if (!windows && !caseInsensitive) return new Map();
  const leaving = new Set(rows.filter((r) => r.deleted).map((r) => r.path));
  const kept = caseInsensitive ? basePaths(s.db).filter((p) => !leaving.has(p)) : [];
  return unholdable(incoming, kept, { windows, caseInsensitive });
}

/** True when every downloaded file is byte-for-byte what the table says (md5 and size). */
async function _verify(staged: string, rows: readonly FileRow[], onProgress: (done: number, total: number) => void): Promise<boolean> {
  const sums = await md5Files(
    rows.map((r) => join(staged, r.path)),
    { onProgress },
  );
  return rows.every((r, i) => sums[i] === r.md5 && lstatSync(join(staged, r.path)).size === r.size);
}

/** Three-way merge of root rules: the server's set plus what this tree changed and has not pushed. */
function _mergeRoots(s: SyncSession, changes: Changes): void {
  const pending = diffRoots(readRoots(s.db), readRoots(s.db, "roots_base"));
  writeRoots(s.db, normalizeRules(applyRootChanges(changes.roots, pending)));
  writeRoots(s.db, changes.roots, "roots_base");
}
