import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BadInputError, SocError } from "../shared/errors.ts";
import { isRealDir, tempBeside } from "../shared/fs.ts";
import type { ChangesetPart } from "../shared/protocol.ts";
import { md5Files } from "../shared/hash.ts";
import { resolveIn, type Store } from "./store.ts";

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
 * Makes a fresh, empty stage; first sweeps stages older than STAGE_MAX_AGE_MS. Its id (32 hex
 * digits) starts with this server's node: the first 8 digits of its store's id.
 */
export function createStage(store: Store, nowMs: number = Date.now()): Stage {
  _sweepStages(store, nowMs);
  const id = newSessionId(store);
  const path = stagePath(store, id);
  mkdirSync(path, { mode: 0o700 });
  return { id, path };
}

/** The absolute path stage `id` has, whether or not it exists (`id` is one createStage made). */
export function stagePath(store: Store, id: string): string {
  return join(store.stateDir, "stage", id);
}

/**
 * The absolute path of an existing stage. Throws SocError "wrong_node" (421) for a stage another
 * server began (several servers behind one address: a push's steps must all reach the one that
 * began it), else BadInputError "no_stage" when it is unknown.
 */
export function stageDir(store: Store, id: string): string {
  return sessionDir(store, "stage", id, stagePath(store, id), () => {
    throw new BadInputError(`unknown stage ${JSON.stringify(id)} (expired or already committed); start the push again`, "no_stage");
  });
}

/** A fresh id for a session (a stage, a view): 32 hex digits, the first 8 this server's node (its store's id). */
export function newSessionId(store: Store): string {
  return `${_node(store)}${randomBytes(12).toString("hex")}`;
}

/**
 * `path`, the directory of `what` `id` (a session newSessionId named), when it exists. Throws
 * SocError "wrong_node" (421) when another server began it, else calls `unknown`.
 */
export function sessionDir(store: Store, what: string, id: string, path: string, unknown: () => never): string {
  if (_isStageId(id) && isRealDir(path)) return path;
  if (_isStageId(id) && !id.startsWith(_node(store))) {
    throw new SocError(
      "wrong_node",
      `${what} ${JSON.stringify(id)} was begun by another server (node ${id.slice(0, 8)}; this is ${_node(store)}): every step of a ${what === "stage" ? "push" : "pull"} must reach the server that began it`,
      { status: 421 },
    );
  }
  return unknown();
}

/** Where a node with a cache (--cache) puts the basis of stage `id`'s upload: `<stateDir>/basis/<id>/`, links to the content its paths hold now. */
export function basisPath(store: Store, id: string): string {
  return join(store.stateDir, "basis", id);
}

/** Stage `id`'s basis, when its push asked for one. */
export function basisDir(store: Store, id: string): string | undefined {
  const path = basisPath(store, id);
  return isRealDir(path) ? path : undefined;
}

/**
 * Deletes a stage, everything in it, its changeset parts and its basis, best effort: it runs after a commit
 * has succeeded, so a failure must not turn that into an error (the 24-hour sweep tries again).
 */
export function removeStage(store: Store, id: string): void {
  if (!_isStageId(id)) return;
  try {
    _removeTree(stagePath(store, id));
    rmSync(_partsDir(store, id), { recursive: true, force: true });
    rmSync(basisPath(store, id), { recursive: true, force: true });
  } catch {
    // left for _sweepStages
  }
}

/**
 * Keeps part number `part` of stage `id`'s changeset until its commit (sending it again replaces
 * it). Parts live in `<stateDir>/changesets/<id>/`, out of reach of the rsync that fills the stage.
 * BadInputError "no_stage" when the stage is unknown.
 */
export function saveChangesetPart(store: Store, id: string, part: number, entries: ChangesetPart): void {
  stageDir(store, id);
  const dir = _partsDir(store, id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = tempBeside(join(dir, "part"));
  writeFileSync(tmp, JSON.stringify({ upserts: entries.upserts, deletes: entries.deletes }));
  renameSync(tmp, join(dir, `${part}.json`));
}

/** The entries of parts 0 to `count`-1 of stage `id`, in order; BadInputError "stage_incomplete" naming a part that never came. */
export function readChangesetParts(store: Store, id: string, count: number): ChangesetPart {
  const all: ChangesetPart = { upserts: [], deletes: [] };
  for (let part = 0; part < count; part++) {
    let text: string;
    try {
      text = readFileSync(join(_partsDir(store, id), `${part}.json`), "utf8");
    } catch {
      throw new BadInputError(`part ${part} of this push's changeset never reached the server; start the push again`, "stage_incomplete");
    }
    const entries = JSON.parse(text) as ChangesetPart;
    for (const u of entries.upserts) all.upserts.push(u);
    for (const d of entries.deletes) all.deletes.push(d);
  }
  return all;
}

/**
 * Makes each of `dirs` (directories of a stage) readable, writable and searchable by the server,
 * so that a commit can move files out of them. A client's rsync may have created them with its
 * source directories' modes: openrsync does not apply `--chmod` to the directories it creates
 * implicitly, and a 555 source directory then arrives 555. Never follows a symlink.
 */
export function openStageDirs(dirs: readonly string[]): void {
  for (const dir of dirs) {
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (st?.isDirectory() && (st.mode & 0o700) !== 0o700) chmodSync(dir, (st.mode & 0o7777) | 0o700);
  }
}

/**
 * Checks that every upsert's file sits in the stage as a regular file of exactly its size
 * and md5; throws SocError "stage_mismatch" (400) naming every path that does not. Returns the
 * staged files' absolute paths, in the order of `upserts`; with `sha256s`, their sha256 is put
 * there in the same order (from the same reads).
 */
export async function verifyStage(
  store: Store,
  id: string,
  upserts: readonly { path: string; size: number; md5: string }[],
  onProgress?: (done: number, total: number) => void,
  sha256s?: string[],
): Promise<string[]> {
  const dir = stageDir(store, id);
  const checked = new Set<string>();
  const files = upserts.map((u) => resolveIn(dir, u.path, checked));
  const problems = upserts.map((u, i) => _stagedProblem(files[i] as string, u));
  const toHash = upserts.flatMap((_, i) => (problems[i] === undefined ? [i] : []));
  const sha256 = sha256s && new Array<string | undefined>(toHash.length);
  const sums = await md5Files(
    toHash.map((i) => files[i] as string),
    { onProgress, ...(sha256 ? { sha256 } : {}) },
  );
  toHash.forEach((i, k) => {
    const sum = sums[k];
    if (sum !== null && typeof sum === "object") problems[i] = `cannot be read (${sum.error})`;
    else if (sum !== (upserts[i] as { md5: string }).md5) problems[i] = "has a different md5";
  });
  const bad = upserts.flatMap((u, i) => (problems[i] === undefined ? [] : [u.path]));
  if (bad.length > 0) {
    const why = upserts.flatMap((u, i) => (problems[i] === undefined ? [] : [`${JSON.stringify(u.path)} ${problems[i]}`]));
    throw new SocError("stage_mismatch", `staged files do not match the changeset: ${why.join("; ")}`, {
      status: 400,
      details: { paths: bad },
    });
  }
  if (sha256s && sha256) toHash.forEach((i, k) => (sha256s[i] = sha256[k] as string)); // every file was hashed: none is bad
  return files;
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

/**
 * Removes the stages nothing was written into for STAGE_MAX_AGE_MS. It goes by the newest write
 * anywhere inside: an upload running for days writes its files, not the stage directory itself.
 */
function _sweepStages(store: Store, nowMs: number): void {
  const base = join(store.stateDir, "stage");
  // A basis or parts left by a push whose stage went first (an abort racing them) go too.
  const others = [join(store.stateDir, "changesets"), join(store.stateDir, "basis")].flatMap((dir) => (existsSync(dir) ? readdirSync(dir) : []));
  const ids = new Set([...readdirSync(base), ...others].filter(_isStageId));
  const since = nowMs - STAGE_MAX_AGE_MS;
  for (const id of ids) {
    if (!_writtenSince(stagePath(store, id), since) && !_writtenSince(_partsDir(store, id), since)) removeStage(store, id);
  }
}

function _partsDir(store: Store, id: string): string {
  return join(store.stateDir, "changesets", id);
}

/**
 * Whether `path` or anything below it (never following a link) was written after `sinceMs`. It
 * stops at the first such entry: a stage being filled answers at once, however many files it holds.
 */
function _writtenSince(path: string, sinceMs: number): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return false;
  if (st.mtimeMs > sinceMs) return true;
  return st.isDirectory() && readdirSync(path).some((name) => _writtenSince(join(path, name), sinceMs));
}

/** This server's node, as its stage ids start: the first 8 hex digits of its store's id. */
function _node(store: Store): string {
  return store.id.slice(0, 8);
}

function _isStageId(id: string): boolean {
  return /^[0-9a-f]{32}$/.test(id);
}

/** Removes a stage's tree, opening first the directories a client's rsync left without write or search permission (see openStageDirs). */
function _removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    _openTree(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function _openTree(dir: string): void {
  openStageDirs([dir]);
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) _openTree(join(dir, entry.name));
}
