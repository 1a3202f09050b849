import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { BadInputError } from "../shared/errors.ts";
import { firstNonDirParent, linkOrCopy, PERMISSION_BITS, placeFile, placeSymlink, pruneEmptyDirs, readSymlink, tempBeside } from "../shared/fs.ts";
import { checkRepoPath } from "../shared/paths.ts";

/** The server's file store (plain files by path) and where push stages live. */
export interface Store {
  /** Absolute, symlink-free path of the store directory. */
  readonly root: string;
  /** Absolute path of the server's state directory (stages live in `<stateDir>/stage/`). */
  readonly stateDir: string;
  /**
   * This store's random id (32 hex digits, kept in `<stateDir>/store-id`; a cache's in
   * `<stateDir>/cache-id`): the table records which store holds its files, and a node of a cluster
   * is known by it. A cache's is its own, so a node that keeps a tree and one that keeps a cache are
   * never taken for each other: how far one has placed the table says nothing of the other's tree.
   */
  readonly id: string;
  /**
   * A node of a cluster started with --cache: `root` is a bounded cache of the object store's
   * blobs by sha256 (blob-cache.ts), not the live tree; sessions read links to it (views.ts).
   */
  readonly cache: boolean;
}

/**
 * Opens the store at `root`, creating it and the state directory (default
 * `<store parent>/.soc-server`, on the same filesystem so commits are renames); with `cache`, a
 * node's cache of blobs (see Store.cache).
 */
export function openStore(root: string, opts: { stateDir?: string; cache?: boolean } = {}): Store {
  mkdirSync(root, { recursive: true });
  const real = realpathSync(root);
  const stateDir = resolve(opts.stateDir ?? join(dirname(real), ".soc-server"));
  mkdirSync(join(stateDir, "stage"), { recursive: true, mode: 0o700 });
  const cache = opts.cache ?? false;
  return { root: real, stateDir, id: _storeId(join(stateDir, cache ? "cache-id" : "store-id")), cache };
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

/** A file a revision puts in the store: moved out of a stage (`move`), or linked from a kept version; or a symlink made from its target. */
export type StoreWrite =
  | {
      path: string;
      mode: number;
      /** Absolute path of the new content. */
      from: string;
      move: boolean;
      link?: undefined;
    }
  | { path: string; mode: number; link: string };

/** Where writeToStore moves what it finds in its way: `<stateDir>/displaced/<rev>/<path>`. */
export function displacedRoot(store: Store, rev: number): string {
  return join(store.stateDir, "displaced", String(rev));
}

/**
 * Puts `w` at its path in the store, so that doing it again changes nothing: a staged file gets
 * its mode (permission bits only) and is renamed into place, and a staged file already gone was
 * moved by an earlier try; a kept version is linked beside the target and renamed over it. What
 * stands in the way and the table does not name (a directory at the path, a file or symlink where
 * a parent directory belongs) is moved to displacedRoot(store, `rev`), never deleted. `realDirs`
 * (store-relative directories found real) is shared by the writes of one revision. Returns the
 * store paths it displaced.
 */
export function writeToStore(store: Store, w: StoreWrite, rev: number, realDirs: Set<string> = new Set()): string[] {
  checkRepoPath(w.path);
  if (w.link === undefined && w.move && !lstatSync(w.from, { throwIfNoEntry: false })) return [];
  const displaced: string[] = [];
  let blocked = firstNonDirParent(store.root, w.path, realDirs);
  for (; blocked !== undefined && blocked.kind !== "missing"; blocked = firstNonDirParent(store.root, w.path, realDirs)) {
    displaced.push(_displace(store, blocked.rel, rev, realDirs));
  }
  const to = join(store.root, ...w.path.split("/"));
  if (blocked?.kind === "missing") mkdirSync(dirname(to), { recursive: true });
  if (lstatSync(to, { throwIfNoEntry: false })?.isDirectory()) displaced.push(_displace(store, w.path, rev, realDirs));
  if (w.link !== undefined) {
    // Made beside and renamed over, never followed; one already there with this target is done.
    if (_linkTarget(to) !== w.link) placeSymlink(w.link, to, { replace: true });
  } else if (w.move) {
    // Permission bits only: a client must not be able to plant setuid files on the server.
    chmodSync(w.from, w.mode & PERMISSION_BITS);
    placeFile(w.from, to, { replace: true });
  } else if (!_sameFile(w.from, to)) {
    // (A rename between two links of one file does nothing, so a done link is skipped, not redone.)
    const tmp = tempBeside(to);
    linkOrCopy(w.from, tmp);
    renameSync(tmp, to);
  }
  return displaced;
}

/**
 * Unlinks the store file at `path` and prunes the directories that leaves empty (never the root),
 * so that doing it again changes nothing: nothing there, a parent that is not a real directory, or
 * a directory at the path (a later step of the same revision may have made one) is left alone.
 * `realDirs` is shared by the deletes of one revision (a pruned directory held no file to delete).
 */
export function deleteFromStore(store: Store, path: string, realDirs: Set<string> = new Set()): void {
  checkRepoPath(path);
  if (firstNonDirParent(store.root, path, realDirs) !== undefined) return;
  const abs = join(store.root, ...path.split("/"));
  const st = lstatSync(abs, { throwIfNoEntry: false });
  if (!st || st.isDirectory()) return;
  unlinkSync(abs);
  pruneEmptyDirs(store.root, dirname(abs));
}

/**
 * `push --force`: moves each of `upserts`, staged files whose rows already hold exactly that
 * content, over the store's copy, so a store file damaged or lost behind the server's back is
 * repaired. The staged bytes were verified against the row's md5, so this never changes content
 * the table does not already name. Returns the paths put back.
 */
export function repairFromStage(store: Store, stagePath: string, upserts: readonly { path: string; mode: number }[], rev: number): string[] {
  const [inStage, inStore] = [new Set<string>(), new Set<string>()];
  for (const u of upserts) writeToStore(store, { ...u, from: resolveIn(stagePath, u.path, inStage), move: true }, rev, inStore);
  return upserts.map((u) => u.path);
}

// ---------------------------------------------------------------------------

function _sameFile(a: string, b: string): boolean {
  const [x, y] = [lstatSync(a), lstatSync(b, { throwIfNoEntry: false })];
  return y !== undefined && x.ino === y.ino && x.dev === y.dev;
}

/** The id in `file` (`<stateDir>/store-id` or `cache-id`), made once: written beside and linked into place, so two servers starting together agree. */
function _storeId(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const tmp = tempBeside(file);
  writeFileSync(tmp, `${randomBytes(16).toString("hex")}\n`);
  try {
    linkSync(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(tmp);
  }
  return readFileSync(file, "utf8").trim();
}

/** Moves store entry `rel` (not in the table) to displacedRoot, under a fresh name if that is taken, forgetting the directories known real; returns `rel`. */
function _displace(store: Store, rel: string, rev: number, realDirs: Set<string>): string {
  let to = join(displacedRoot(store, rev), ...rel.split("/"));
  mkdirSync(dirname(to), { recursive: true });
  if (lstatSync(to, { throwIfNoEntry: false })) to = tempBeside(to);
  renameSync(join(store.root, ...rel.split("/")), to);
  realDirs.clear();
  return rel;
}

/** The target of the symlink at `path`, or undefined when there is none there. */
function _linkTarget(path: string): string | undefined {
  try {
    return readSymlink(path);
  } catch {
    return undefined;
  }
}
