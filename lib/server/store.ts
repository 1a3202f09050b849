import { chmodSync, mkdirSync, realpathSync, rmSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { BadInputError } from "../shared/errors.ts";
import { firstNonDirParent, PERMISSION_BITS, placeFile, pruneEmptyDirs } from "../shared/fs.ts";
import { checkRepoPath } from "../shared/paths.ts";

/** The server's file store (plain files by path) and where push stages live. */
export interface Store {
  /** Absolute, symlink-free path of the store directory. */
  readonly root: string;
  /** Absolute path of the server's state directory (stages live in `<stateDir>/stage/`). */
  readonly stateDir: string;
}

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

/**
 * The absolute path of repository path `path` under `root` (the store or a stage). Throws
 * BadInputError when the path is invalid, escapes `root`, or has a symlink as a parent.
 * `checked` remembers parent directories (relative to `root`) already found safe, so a batch
 * lstats each once.
 */
export function resolveIn(root: string, path: string, checked: Set<string> = new Set()): string {
  checkRepoPath(path);
  const abs = resolve(root, ...path.split("/"));
  if (!abs.startsWith(root + sep)) throw new BadInputError(`bad path ${JSON.stringify(path)}: outside ${root}`, "bad_path");
  // Parents only: a symlink as the last component is replaced or unlinked, never followed.
  const blocked = firstNonDirParent(root, path, checked);
  if (blocked?.kind === "link") {
    throw new BadInputError(`refusing ${JSON.stringify(path)}: ${join(root, blocked.rel)} is a symlink`, "unsafe_path");
  }
  return abs;
}

/**
 * Applies a commit's file changes to the store: unlinks `deletes` and prunes directories they
 * leave empty (never the root), then moves each file from the stage at `stagePath` into place
 * and sets its mode. Not atomic: a throw halfway leaves the steps before it done.
 */
export function applyToStore(
  store: Store,
  stagePath: string,
  plan: { deletes: readonly string[]; stores: readonly { path: string; mode: number }[] },
): void {
  const [inStage, inStore] = [new Set<string>(), new Set<string>()];
  const deletes = plan.deletes.map((path) => resolveIn(store.root, path, inStore));
  const moves = plan.stores.map((u) => ({ from: resolveIn(stagePath, u.path, inStage), to: resolveIn(store.root, u.path, inStore), mode: u.mode }));
  for (const abs of deletes) rmSync(abs, { force: true });
  for (const abs of deletes) pruneEmptyDirs(store.root, dirname(abs));
  const made = new Set<string>();
  for (const { from, to, mode } of moves) {
    if (!made.has(dirname(to))) mkdirSync(dirname(to), { recursive: true });
    made.add(dirname(to));
    placeFile(from, to, { replace: true });
    // Permission bits only: a client must not be able to plant setuid files on the server.
    chmodSync(to, mode & PERMISSION_BITS);
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
  stagePath: string,
  upserts: readonly { path: string; mode: number }[],
  isCurrent: (path: string) => boolean,
): string[] {
  const current = upserts.filter((u) => isCurrent(u.path));
  applyToStore(store, stagePath, { deletes: [], stores: current });
  return current.map((u) => u.path);
}
