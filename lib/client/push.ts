import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ConflictError, SocError } from "../shared/errors.ts";
import { isGone } from "../shared/fs.ts";
import { type ChangesetPart, type Delete, type PushCommit, type PushCommitRequest, type Upsert } from "../shared/protocol.ts";
import { CHANGESET_PART_BYTES } from "../shared/wire.ts";
import { ancestorPaths, comparePaths, quotePath } from "../shared/paths.ts";
import { meterTransfer, noProgress, type Progress } from "./progress.ts";
import type { RootRule } from "./roots.ts";
import type { SyncSession } from "./session.ts";
import { noteRevision, readRoots, updateBase, writeRoots, type BaseEntry } from "./state.ts";
import { changeBase } from "./base-index.ts";
import { scanRepo, type RepoScan, type ScannedFile } from "./scan.ts";
import { scanRepoAsking } from "./watched-scan.ts";
import { keepsModes } from "./portability.ts";

/** How many tracked files a directory other than a tracked root must have held before its emptying stops a push. */
export const EMPTIED_DIR_FILES = 10;

/** What a push did (or, with dryRun, would do); printed by `soc push --json`. */
export interface PushResult {
  revision: number;
  transferred: string[];
  deleted: string[];
  conflicts: string[];
  upToDate: boolean;
  /** Changed paths `hold` kept out of this push (they are still changed: the next push looks again). */
  held?: string[];
}

/** A change a push may leave for later (`hold`): a file to send, with its mtime, or a deletion. */
export type PendingChange = { path: string; mtimeNs: bigint } | { path: string; mtimeNs?: undefined };

/**
 * Sends the dirty set: one rsync run into a staging area, then a commit (in parts when it is big) carrying each path's
 * base revision (the server checks and writes the rows in one transaction). A refused commit (paths changed on the server) throws ConflictError and
 * changes nothing on either side. `force` re-sends every tracked file (rsync skips equal content).
 * `progress` shows the scan and the transfer (the caller erases it if this throws).
 */
export async function push(
  s: SyncSession,
  opts: {
    force?: boolean;
    dryRun?: boolean;
    allowMassDelete?: boolean;
    progress?: Progress;
    /** Keeps a change out of this push when it returns true (`soc watch`: a file still being written, a fresh deletion). */
    hold?: (change: PendingChange) => boolean;
    /** Scans these paths only (ScanOptions.only: `soc watch` knows what its watcher saw change). */
    only?: readonly string[];
    /** Asks a running `soc watch` what changed (scanRepoAsking) rather than scanning the whole tree, unless `force` re-sends it all. */
    askWatcher?: boolean;
  } = {},
): Promise<PushResult> {
  const progress = opts.progress ?? noProgress;
  progress.update("scanning", 0, 0);
  const scanStarted = performance.now();
  const onHash = (done: number, total: number) => progress.update("hashing", done, total, "files");
  const scanOpts = { hashChanged: true, allFiles: opts.force, onHash };
  const dirty = opts.only
    ? await scanRepo(s.layout, s.db, s.log, { ...scanOpts, only: opts.only })
    : opts.askWatcher && !opts.force
      ? await scanRepoAsking(s.layout, s.db, s.log, scanOpts)
      : await scanRepo(s.layout, s.db, s.log, scanOpts);
  progress.finish(
    dirty.hashed > 0
      ? `hashed ${dirty.hashed} file${dirty.hashed === 1 ? "" : "s"} in ${((performance.now() - scanStarted) / 1000).toFixed(1)} s`
      : undefined,
  );
  const { base, rules, scannedNs: scanNs } = dirty;
  _refuseUnreadable(dirty.unreadable);
  if (!opts.allowMassDelete) _refuseEmptiedDirs(s.layout.top, rules, dirty);
  const rootChanges = diffRoots(rules, readRoots(s.db, "roots_base"));
  const hold = opts.hold ?? (() => false);
  const held: string[] = [];
  const keep = (change: PendingChange) => {
    if (!hold(change)) return true;
    held.push(change.path);
    return false;
  };
  const changed = [...dirty.added, ...dirty.modified].filter((f) => f.md5 !== undefined && keep(f));
  const heldHere = new Set(held);
  const send = opts.force ? (dirty.files ?? []).filter((f) => f.md5 !== undefined && !heldHere.has(f.path)) : changed;
  const deletions = dirty.deleted.filter((e) => keep({ path: e.path }));
  const hasChanges = changed.length + deletions.length + rootChanges.set.length + rootChanges.remove.length > 0;
  const transferred = send.map((f) => f.path).sort(comparePaths);
  const deleted = deletions.map((e) => e.path).sort(comparePaths);
  const heldOut = held.length ? { held: held.sort(comparePaths) } : {};
  if (!hasChanges && !opts.force) return { revision: s.serverRevision, transferred: [], deleted: [], conflicts: [], upToDate: true, ...heldOut };
  if (opts.dryRun) return { revision: s.serverRevision, transferred, deleted, conflicts: [], upToDate: false, ...heldOut };

  const modes = keepsModes(s.layout.tmpDir, process.env);
  const stage = await s.remote.beginPush(s.client);
  const request: PushCommitRequest = {
    stage: stage.stage,
    client: s.client,
    upserts: send.map((f) => _upsert(f, base.get(f.path), modes)),
    deletes: deletions.map((e): Delete => ({ path: e.path, baseRev: e.rev })),
    roots: rootChanges,
    ...(opts.allowMassDelete ? { allowMassDelete: true } : {}),
    ...(opts.force ? { repair: true } : {}),
  };
  let commit: PushCommit;
  try {
    const meter = meterTransfer(
      progress,
      "send",
      send.reduce((sum, f) => sum + (f.link === undefined ? f.size : 0), 0),
    );
    // A symlink travels in the changeset alone: its target is the whole of it.
    const files = request.upserts.filter((u) => u.link === undefined);
    await s.transport.upload(s.layout.top, files, stage, opts.force ? "checksum" : "always", meter.onProgress);
    meter.finish();
    commit = await _commit(s, request, progress);
  } catch (err) {
    if (err instanceof ConflictError)
      return { revision: s.serverRevision, transferred: [], deleted: [], conflicts: err.paths.sort(comparePaths), upToDate: false, ...heldOut };
    await s.remote.abortPush(stage.stage); // the stage goes now, not in a day
    throw err;
  }
  const entries = send.map((f) => _baseEntry(f, commit.revision, scanNs, base.get(f.path)));
  const record = () => updateBase(s.db, entries, deleted);
  if (dirty.index) {
    const at = dirty.positions;
    const patch = {
      updated: entries.filter((e) => at.has(e.path)).map((entry) => ({ at: at.get(entry.path) as number, entry })),
      added: entries.filter((e) => !at.has(e.path)),
      removed: deleted.map((path) => at.get(path) as number),
    };
    changeBase(s.db, s.layout.baseSnapshotFile, dirty.index, patch, record);
  } else record();
  writeRoots(s.db, applyRootChanges(readRoots(s.db, "roots_base"), rootChanges), "roots_base");
  noteRevision(s.db, commit.revision);
  return { revision: commit.revision, transferred: commit.stored.sort(comparePaths), deleted, conflicts: [], upToDate: false, ...heldOut };
}

/**
 * Splits a changeset's entries into parts whose JSON stays under about `maxBytes` each (at least
 * one entry per part, and always one part, maybe empty): every request of a push stays small.
 */
export function splitChangeset(upserts: readonly Upsert[], deletes: readonly Delete[], maxBytes: number = CHANGESET_PART_BYTES): ChangesetPart[] {
  const parts: ChangesetPart[] = [{ upserts: [], deletes: [] }];
  let bytes = 0;
  const add = (size: number, put: (part: ChangesetPart) => void) => {
    let part = parts.at(-1) as ChangesetPart;
    if (bytes + size > maxBytes && part.upserts.length + part.deletes.length > 0) {
      part = { upserts: [], deletes: [] };
      parts.push(part);
      bytes = 0;
    }
    bytes += size;
    put(part);
  };
  // A path's JSON (escapes included) plus the fixed fields of an entry, generously.
  for (const u of upserts) add(JSON.stringify(u.path).length + 140, (p) => p.upserts.push(u));
  for (const d of deletes) add(JSON.stringify(d.path).length + 40, (p) => p.deletes.push(d));
  return parts;
}

/** Rules to send: those set or changed locally since the last agreement, and paths whose rule went. */
export function diffRoots(local: readonly RootRule[], agreed: readonly RootRule[]): PushCommitRequest["roots"] {
  const was = new Map(agreed.map((r) => [r.path, r.kind]));
  const now = new Set(local.map((r) => r.path));
  return {
    set: local.filter((r) => was.get(r.path) !== r.kind),
    remove: agreed.filter((r) => !now.has(r.path)).map((r) => r.path),
  };
}

/** `rules` with `changes` applied (what the server does on commit). */
export function applyRootChanges(rules: readonly RootRule[], changes: PushCommitRequest["roots"]): RootRule[] {
  const out = new Map(rules.map((r) => [r.path, r]));
  for (const path of changes.remove) out.delete(path);
  for (const r of changes.set) out.set(r.path, r);
  return [...out.values()].sort((a, b) => comparePaths(a.path, b.path));
}

// ---------------------------------------------------------------------------

/** Sends all but the last part of `request`'s changeset ahead, then commits with the last one, showing the server's progress. */
async function _commit(s: SyncSession, request: PushCommitRequest, progress: Progress): Promise<PushCommit> {
  const parts = splitChangeset(request.upserts, request.deletes);
  const last = parts.pop() as ChangesetPart;
  for (const [part, entries] of parts.entries()) {
    progress.update("sending the changeset", part, parts.length + 1, "files");
    await s.remote.sendPushPart({ stage: request.stage, part, ...entries });
  }
  const commit = await s.remote.commitPush({ ...request, ...last, ...(parts.length > 0 ? { parts: parts.length } : {}) }, (p) =>
    progress.update(`server ${p.step}`, p.done, p.total, "files"),
  );
  progress.finish();
  return commit;
}

/** An unreadable file is never taken for a deleted one: stop, naming each, before anything is sent. */
function _refuseUnreadable(unreadable: readonly { path: string; error: string }[]): void {
  if (unreadable.length === 0) return;
  const list = unreadable.map((u) => `  ${quotePath(u.path)}: ${u.error}\n`).join("");
  throw new SocError(
    "unreadable",
    `cannot read ${unreadable.length} tracked file${unreadable.length === 1 ? "" : "s"}, so nothing was pushed:\n${list}fix their permissions (or \`soc rm\` them), then push again`,
  );
}

/**
 * Refuses the push when a directory that held tracked files is now empty or gone while the push
 * would delete them: what an unmounted disk or a missing mount looks like. A tracked root counts
 * from one such file, any other directory from EMPTIED_DIR_FILES (deleting a small folder stays easy).
 */
function _refuseEmptiedDirs(top: string, rules: readonly RootRule[], dirty: RepoScan): void {
  if (dirty.deleted.length === 0) return;
  const deletedUnder = new Map<string, number>();
  for (const e of dirty.deleted) for (const dir of ["", ...ancestorPaths(e.path)]) deletedUnder.set(dir, (deletedUnder.get(dir) ?? 0) + 1);
  const roots = new Set(rules.filter((r) => r.kind === "dir").map((r) => r.path));
  // The top of the tree counts only when it is a tracked root itself (it always holds .soc/).
  const threshold = (dir: string) => (roots.has(dir) ? 1 : dir === "" ? Number.POSITIVE_INFINITY : EMPTIED_DIR_FILES);
  const emptied = [...deletedUnder]
    .filter(([dir, n]) => n >= threshold(dir) && _emptyOrGone(join(top, dir)))
    .sort(([a], [b]) => comparePaths(a, b))[0];
  if (!emptied) return;
  const [dir, n] = emptied;
  const name = dir === "" ? "the whole tree" : `${roots.has(dir) ? "tracked directory" : "directory"} ${JSON.stringify(dir)}`;
  throw new SocError(
    "root_vanished",
    `refusing to push: ${name} is empty or gone, so its ${n} files would be deleted everywhere (an unmounted disk looks like this); pass --allow-mass-delete if you mean it`,
  );
}

/** Whether `abs` is missing, a symlink (its files are gone from the tree) or an empty directory (an unmounted mount point is one). */
function _emptyOrGone(abs: string): boolean {
  try {
    if (lstatSync(abs).isSymbolicLink()) return true;
    return readdirSync(abs).filter((name) => name !== ".soc").length === 0;
  } catch (error) {
    return isGone(error);
  }
}

/** The upsert for `f`: without a mode from a filesystem that keeps none (the row keeps its own). */
function _upsert(f: ScannedFile, base: BaseEntry | undefined, modes: boolean): Upsert {
  return {
    path: f.path,
    size: f.size,
    md5: f.md5 as string,
    ...(modes ? { mode: f.mode } : {}),
    mtimeNs: f.mtimeNs.toString(),
    ...(f.link !== undefined ? { link: f.link } : {}),
    baseRev: base?.rev ?? 0,
  };
}

function _baseEntry(f: ScannedFile, revision: number, scanNs: bigint, old: BaseEntry | undefined): BaseEntry {
  const unchanged = old && old.md5 === f.md5 && old.mode === f.mode && old.link === f.link;
  const entry: BaseEntry = {
    path: f.path,
    size: f.size,
    mtimeNs: f.mtimeNs,
    ctimeNs: f.ctimeNs,
    md5: f.md5 as string,
    mode: f.mode,
    rev: unchanged ? old.rev : revision,
    checkedNs: scanNs,
  };
  if (f.link !== undefined) entry.link = f.link;
  return entry;
}
