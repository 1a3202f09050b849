import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, unlinkSync, utimesSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { BadInputError, SocError } from "../shared/errors.ts";
import { md5Files } from "../shared/hash.ts";
import { checkRepoPath } from "../shared/paths.ts";
import { pruneEmptyDirs } from "../shared/fs.ts";

/** The server's file store (plain files by path) and where push stages live. */
export interface Store {
  /** Absolute, symlink-free path of the store directory. */
  readonly root: string;
  /** Absolute path of the server's state directory (stages live in `<stateDir>/stage/`). */
  readonly stateDir: string;
}

/** A staging area one push rsyncs its files into. */
export interface Stage {
  /** 32 lowercase hex digits. */
  id: string;
  /** Absolute path of the stage directory. */
  path: string;
}

/** How long an uncommitted stage is kept before createStage sweeps it, in ms. */
export const STAGE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/**
 * Opens the store at `root`, creating it and the state directory (default
 * `<store parent>/.soc-server`, on the same filesystem so commits are renames).
 */
export function openStore(root: string, opts: { stateDir?: string } = {}): Store {
  mkdirSync(root, { recursive: true });
  const real = realpathSync(root);
  const stateDir = resolve(opts.stateDir ?? join(dirname(real), ".soc-server"));
  mkdirSync(join(stateDir, "stage"), { recursive: true, mode: 0o700 });
  return { root: real, stateDir };
}

/** Makes a fresh, empty stage; first sweeps stages older than STAGE_MAX_AGE_MS. */
export function createStage(store: Store, nowMs: number = Date.now()): Stage {
  _sweepStages(store, nowMs);
  const id = randomBytes(16).toString("hex");
  const path = join(store.stateDir, "stage", id);
  mkdirSync(path, { mode: 0o700 });
  return { id, path };
}

/** The absolute path of an existing stage; BadInputError "no_stage" when it is unknown. */
export function stageDir(store: Store, id: string): string {
  const path = join(store.stateDir, "stage", id);
  if (!_isStageId(id) || !_isDir(path)) {
    throw new BadInputError(`unknown stage ${JSON.stringify(id)} (expired or already committed); start the push again`, "no_stage");
  }
  return path;
}

/**
 * Deletes a stage and everything in it, best effort: it runs after a commit has succeeded,
 * so a failure must not turn that into an error (the 24-hour sweep tries again).
 */
export function removeStage(store: Store, id: string): void {
  if (!_isStageId(id)) return;
  try {
    rmSync(join(store.stateDir, "stage", id), { recursive: true, force: true });
  } catch {
    // left for _sweepStages
  }
}

/**
 * The absolute path of repository path `path` under `root` (the store or a stage). Throws
 * BadInputError when the path is invalid, escapes `root`, or has a symlink as a parent.
 * `checked` remembers parent directories already found safe, so a batch lstats each once.
 */
export function resolveIn(root: string, path: string, checked: Set<string> = new Set()): string {
  checkRepoPath(path);
  const abs = resolve(root, ...path.split("/"));
  if (!abs.startsWith(root + sep)) throw new BadInputError(`bad path ${JSON.stringify(path)}: outside ${root}`, "bad_path");
  // Parents only: a symlink as the last component is replaced or unlinked, never followed.
  let cur = root;
  for (const segment of path.split("/").slice(0, -1)) {
    cur = join(cur, segment);
    if (checked.has(cur)) continue;
    const st = lstatSync(cur, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      throw new BadInputError(`refusing ${JSON.stringify(path)}: ${cur} is a symlink`, "unsafe_path");
    }
    if (!st?.isDirectory()) break; // nothing can exist below a missing entry or a file
    checked.add(cur);
  }
  return abs;
}

/**
 * Checks that every upsert's file sits in the stage as a regular file of exactly its size
 * and md5; throws SocError "stage_mismatch" (400) naming every path that does not.
 */
export async function verifyStage(store: Store, id: string, upserts: readonly { path: string; size: number; md5: string }[]): Promise<void> {
  const dir = stageDir(store, id);
  const checked = new Set<string>();
  const files = upserts.map((u) => resolveIn(dir, u.path, checked));
  const problems = upserts.map((u, i) => _stagedProblem(files[i] as string, u));
  const toHash = upserts.flatMap((_, i) => (problems[i] === undefined ? [i] : []));
  const sums = await md5Files(toHash.map((i) => files[i] as string));
  toHash.forEach((i, k) => {
    if (sums[k] !== (upserts[i] as { md5: string }).md5) problems[i] = "has a different md5";
  });
  const bad = upserts.flatMap((u, i) => (problems[i] === undefined ? [] : [u.path]));
  if (bad.length > 0) {
    const why = upserts.flatMap((u, i) => (problems[i] === undefined ? [] : [`${JSON.stringify(u.path)} ${problems[i]}`]));
    throw new SocError("stage_mismatch", `staged files do not match the changeset: ${why.join("; ")}`, {
      status: 400,
      details: { paths: bad },
    });
  }
}

/**
 * Applies a commit's file changes to the store: unlinks `deletes` and prunes directories they
 * leave empty (never the root), then moves each staged file into place and sets its mode.
 */
export function applyToStore(
  store: Store,
  id: string,
  plan: { deletes: readonly string[]; stores: readonly { path: string; mode: number }[] },
): void {
  const dir = stageDir(store, id);
  const [inStage, inStore] = [new Set<string>(), new Set<string>()];
  const deletes = plan.deletes.map((path) => resolveIn(store.root, path, inStore));
  const moves = plan.stores.map((u) => ({ from: resolveIn(dir, u.path, inStage), to: resolveIn(store.root, u.path, inStore), mode: u.mode }));
  for (const abs of deletes) rmSync(abs, { force: true });
  for (const abs of deletes) pruneEmptyDirs(store.root, dirname(abs));
  const made = new Set<string>();
  for (const { from, to, mode } of moves) {
    if (!made.has(dirname(to))) mkdirSync(dirname(to), { recursive: true });
    made.add(dirname(to));
    _move(from, to);
    // Permission bits only: a client must not be able to plant setuid files on the server.
    chmodSync(to, mode & 0o777);
  }
}

/**
 * `push --force`: moves each staged file that `isCurrent` (its row already holds exactly that
 * content) over the store's copy, so a store file damaged or lost behind the server's back is
 * repaired. The staged bytes were verified against the row's md5, so this never changes content
 * the table does not already name. Returns the paths put back.
 */
export function repairFromStage(
  store: Store,
  id: string,
  upserts: readonly { path: string; mode: number }[],
  isCurrent: (path: string) => boolean,
): string[] {
  const current = upserts.filter((u) => isCurrent(u.path));
  applyToStore(store, id, { deletes: [], stores: current });
  return current.map((u) => u.path);
}

// ---------------------------------------------------------------------------

/** What is wrong with a staged file short of its content, or undefined (then its md5 decides). */
function _stagedProblem(abs: string, want: { size: number }): string | undefined {
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (!st) return "is missing";
  if (!st.isFile()) return "is not a regular file";
  if (st.size !== want.size) return `has ${st.size} bytes, expected ${want.size}`;
  return undefined;
}

function _move(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    // Another filesystem: copy beside the target, then rename, so readers never see half a file.
    const tmp = join(dirname(to), `.soc-tmp-${randomBytes(8).toString("hex")}`);
    const st = lstatSync(from);
    copyFileSync(from, tmp);
    utimesSync(tmp, st.atime, st.mtime);
    renameSync(tmp, to);
    unlinkSync(from);
  }
}

function _sweepStages(store: Store, nowMs: number): void {
  const base = join(store.stateDir, "stage");
  for (const name of readdirSync(base)) {
    const st = lstatSync(join(base, name), { throwIfNoEntry: false });
    if (st && _isStageId(name) && nowMs - st.mtimeMs > STAGE_MAX_AGE_MS) {
      rmSync(join(base, name), { recursive: true, force: true });
    }
  }
}

function _isDir(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

function _isStageId(id: string): boolean {
  return /^[0-9a-f]{32}$/.test(id);
}
