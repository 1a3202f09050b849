import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync, type BigIntStats } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { SocError } from "../shared/errors.ts";
import { md5Files } from "../shared/hash.ts";
import { checkRepoPath, comparePaths } from "../shared/paths.ts";
import { meterTransfer, noProgress, type Progress } from "./progress.ts";
import type { Changes, FileRow } from "../shared/protocol.ts";
import { applyRootChanges, diffRoots } from "./push.ts";
import { normalizeRules } from "./roots.ts";
import type { SyncSession } from "./session.ts";
import { getMeta, readBaseFor, readRoots, setMeta, updateBase, writeRoots, type BaseEntry } from "./state.ts";
import { conflictName, PERMISSION_BITS, planPull, statSignature, type PullPlan } from "./pull-plan.ts";
import { pruneEmptyParents } from "../shared/fs.ts";

/** What a pull did (or, with dryRun, would do); printed by `soc pull --json`. */
export interface PullResult {
  revision: number;
  transferred: string[];
  deleted: string[];
  conflicts: string[];
  /** Local copies kept beside the server's version by `--keep-both`. */
  keptBoth: string[];
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
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const since = Number(getMeta(s.db, "revision") ?? "0");
    const changes = await s.remote.changes(since);
    for (const row of changes.files) checkRepoPath(row.path);
    const plan = planPull(
      s.layout.top,
      changes.files,
      readBaseFor(
        s.db,
        changes.files.map((r) => r.path),
      ),
      opts.keepBoth === true,
    );
    if (opts.dryRun) return _result(changes.revision, plan, []);
    const staged = join(s.layout.tmpDir, `pull-${process.pid}`);
    rmSync(staged, { recursive: true, force: true });
    mkdirSync(staged, { recursive: true });
    try {
      const takePaths = plan.take.map((r) => r.path);
      const meter = meterTransfer(
        progress,
        "receive",
        plan.take.reduce((sum, r) => sum + r.size, 0),
      );
      await s.transport.download(takePaths, staged, meter.onProgress);
      meter.finish();
      const verified = await _verify(staged, plan.take, (done, total) => progress.update("verifying", done, total));
      progress.finish();
      if (!verified) continue;
      const kept = _apply(s, staged, plan);
      _mergeRoots(s, changes);
      // Unresolved conflicts are fetched again by the next pull: stop just below the oldest.
      const floor = plan.conflicts.reduce((low, c) => Math.min(low, c.rev - 1), changes.revision);
      setMeta(s.db, "revision", String(Math.max(since, floor)));
      return _result(changes.revision, plan, kept);
    } finally {
      rmSync(staged, { recursive: true, force: true });
    }
  }
  throw new SocError("pull_unstable", `the server's files kept changing during ${ATTEMPTS} download attempts; run \`soc pull\` again`);
}

// ---------------------------------------------------------------------------

function _result(revision: number, plan: PullPlan, keptBoth: string[]): PullResult {
  return {
    revision,
    transferred: plan.take.map((r) => r.path).sort(comparePaths),
    deleted: plan.remove.map((r) => r.path).sort(comparePaths),
    conflicts: plan.conflicts.map((r) => r.path).sort(comparePaths),
    keptBoth: keptBoth.sort(comparePaths),
  };
}

/** True when every downloaded file is byte-for-byte what the table says (md5 and size). */
async function _verify(staged: string, rows: readonly FileRow[], onProgress: (done: number, total: number) => void): Promise<boolean> {
  const sums = await md5Files(
    rows.map((r) => join(staged, r.path)),
    { onProgress },
  );
  return rows.every((r, i) => sums[i] === r.md5 && lstatSync(join(staged, r.path)).size === r.size);
}

/**
 * Applies the plan to the tree and the base: deletions, kept-both renames, then new content.
 * A file that changed since it was planned (an editor saving right now) is left alone and
 * becomes a conflict, so a pull never replaces what it did not look at.
 */
function _apply(s: SyncSession, staged: string, plan: PullPlan): string[] {
  const top = s.layout.top;
  const stamp = new Date();
  const kept: string[] = [];
  const forget: string[] = plan.forget.map((r) => r.path);
  const put: BaseEntry[] = [];
  const changedMeanwhile = (r: FileRow) => {
    const moved = statSignature(top, r.path) !== plan.seen.get(r.path) && !plan.keepBoth.includes(r.path);
    if (moved) plan.conflicts.push(r);
    return moved;
  };
  plan.remove = plan.remove.filter((r) => !changedMeanwhile(r));
  plan.take = plan.take.filter((r) => !changedMeanwhile(r));
  for (const r of plan.remove) {
    rmSync(join(top, r.path), { force: true });
    pruneEmptyParents(top, r.path);
    forget.push(r.path);
  }
  for (const path of plan.keepBoth) {
    const copy = conflictName(path, hostname(), stamp);
    renameSync(join(top, path), join(top, copy));
    kept.push(copy);
  }
  for (const r of plan.take) {
    const target = join(top, r.path);
    mkdirSync(join(target, ".."), { recursive: true });
    renameSync(join(staged, r.path), target);
    put.push(_entryFor(r, lstatSync(target, { bigint: true })));
  }
  for (const r of plan.chmod) chmodSync(join(top, r.path), r.mode & PERMISSION_BITS);
  for (const r of plan.adopt) put.push(_entryFor(r, lstatSync(join(top, r.path), { bigint: true })));
  updateBase(s.db, put, forget);
  return kept;
}

function _entryFor(r: FileRow, st: BigIntStats): BaseEntry {
  return {
    path: r.path,
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    md5: r.md5,
    mode: Number(st.mode) & 0o7777,
    rev: r.rev,
    checkedNs: BigInt(Date.now()) * 1_000_000n,
  };
}

/** Three-way merge of root rules: the server's set plus what this tree changed and has not pushed. */
function _mergeRoots(s: SyncSession, changes: Changes): void {
  const pending = diffRoots(readRoots(s.db), readRoots(s.db, "roots_base"));
  writeRoots(s.db, normalizeRules(applyRootChanges(changes.roots, pending)));
  writeRoots(s.db, changes.roots, "roots_base");
}
