import {
  closeSync,
  copyFileSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { BadInputError, SocError } from "../shared/errors.ts";
import { removeStale, setMtimeNs, tempBeside } from "../shared/fs.ts";
import { md5File } from "../shared/hash.ts";
import { stageDir } from "./stage.ts";
import { resolveIn, type Store } from "./store.ts";
import type { TablePort } from "./table-port.ts";

// The http transport's uploads (no rsync on the client). They are content-addressed: the bytes of
// content `<md5>` of `<size>` bytes arrive in `<stateDir>/uploads/<md5>-<size>.part`, appended at
// the offset the client names, and become `<md5>-<size>` once whole and their md5 is checked. A
// push then has them placed in its stage by path (placeInStage). So an upload broken off resumes
// where it stopped, in the same push or a later one, and content the store already holds is
// copied on the server instead of sent.

/** Content an upload delivers: its md5 and size. */
export interface UploadKey {
  md5: string;
  size: number;
}

/** How long an unfinished or unused upload is kept. */
export const UPLOAD_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/**
 * How many bytes of `key` the server holds: its size once whole, else what arrived so far. 409
 * "upload_busy" while a request is still sending it: its end decides. An upload whose bytes all
 * arrived but whose request broke off before its check is checked now (dropped when its md5 differs).
 */
export function uploadOffset(store: Store, key: UploadKey): number {
  const { whole, part } = _files(store, key);
  if (_size(whole) !== undefined) return key.size;
  if (_busy.has(_id(key))) throw _busyError(key);
  const held = _size(part) ?? 0;
  if (held < key.size) return held;
  try {
    _finish(store, key);
    return key.size;
  } catch {
    return 0; // it did not hash to its md5: gone, to be sent again
  }
}

/**
 * Appends `body` to the upload of `key`, which must hold exactly `offset` bytes now (else 409
 * "upload_offset", with the offset it holds). Streams to disk, never holding the body. Once all
 * `key.size` bytes are in, checks their md5: a mismatch deletes them and throws 422
 * "md5_mismatch", so nothing is ever committed from them. Returns the offset reached. One request
 * at a time per content: another gets 409 "upload_busy".
 */
export async function appendUpload(store: Store, key: UploadKey, offset: number, body: ReadableStream<Uint8Array> | null): Promise<number> {
  const id = _id(key);
  if (_busy.has(id)) throw _busyError(key);
  _busy.add(id);
  try {
    const { whole, part } = _files(store, key);
    if (_size(whole) !== undefined) return key.size;
    const held = _size(part) ?? 0;
    if (offset !== held) {
      throw new SocError("upload_offset", `the server holds ${held} bytes of content ${id}, not ${offset}: resume from ${held}`, {
        status: 409,
        details: { offset: held },
      });
    }
    mkdirSync(dirname(part), { recursive: true, mode: 0o700 });
    let at = held;
    const fd = openSync(part, "a", 0o600);
    try {
      for await (const chunk of body ?? new ReadableStream<Uint8Array>()) {
        if (at + chunk.byteLength > key.size) {
          rmSync(part, { force: true });
          throw new BadInputError(`more than the ${key.size} bytes content ${id} has`, "too_long");
        }
        for (let done = 0; done < chunk.byteLength;) done += writeSync(fd, chunk, done);
        at += chunk.byteLength;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (at < key.size) return at;
    _finish(store, key);
    return at;
  } finally {
    _busy.delete(id);
  }
}

/**
 * Puts each of `files` into stage `stageId` at its path, from a whole upload of its content
 * (copied) or, with `fromStore`, from a store file that holds the same content (copied, and its
 * md5 checked first).
 * Returns the paths it had no content for: those the client must upload (or, after uploading,
 * content another push took and has not committed yet). BadInputError for a bad path or an
 * unknown stage.
 */
export async function placeInStage(
  store: Store,
  table: TablePort,
  stageId: string,
  files: readonly (UploadKey & { path: string; mtimeNs: string })[],
  fromStore: boolean,
): Promise<string[]> {
  const stage = stageDir(store, stageId);
  const checked = new Set<string>();
  const missing: string[] = [];
  for (const f of files) {
    const to = resolveIn(stage, f.path, checked);
    try {
      mkdirSync(dirname(to), { recursive: true });
    } catch (error) {
      throw new BadInputError(`cannot place ${JSON.stringify(f.path)} in the stage: ${(error as NodeJS.ErrnoException).code}`, "bad_path");
    }
    if (f.size === 0 && f.md5 === EMPTY_MD5)
      writeFileSync(to, ""); // nothing to send
    else if (!_placed(f, to, _files(store, f).whole) && !(fromStore && _placed(f, to, await _storeCopy(store, table, f)))) {
      missing.push(f.path);
      continue;
    }
    setMtimeNs(to, f.mtimeNs); // as rsync -t leaves a staged file: the store's copy keeps the client's mtime
  }
  return missing;
}

/** Drops the uploads of content a commit has stored (`keys`): the store holds it now. */
export function dropUploads(store: Store, keys: readonly UploadKey[]): void {
  const dir = join(store.stateDir, "uploads");
  let names: string[];
  try {
    names = readdirSync(dir); // one look: most pushes (rsync ones) leave none
  } catch {
    return;
  }
  if (names.length === 0) return;
  const held = new Set(names);
  for (const key of keys) if (held.has(_id(key))) rmSync(join(dir, _id(key)), { force: true });
}

/** Removes uploads untouched for UPLOAD_MAX_AGE_MS: given up, or never placed. */
export function sweepUploads(store: Store, nowMs: number = Date.now()): void {
  removeStale(join(store.stateDir, "uploads"), nowMs - UPLOAD_MAX_AGE_MS, (name) => _busy.has(name.replace(/\.part$/, "")));
}

// ---------------------------------------------------------------------------

const _busy = new Set<string>();

function _id(key: UploadKey): string {
  return `${key.md5}-${key.size}`;
}

function _busyError(key: UploadKey): SocError {
  return new SocError("upload_busy", `content ${_id(key)} is being uploaded by another request; try again`, { status: 409 });
}

/** Checks an upload whose bytes all arrived: whole when its md5 matches, else dropped (422 "md5_mismatch"). */
function _finish(store: Store, key: UploadKey): void {
  const { whole, part } = _files(store, key);
  const sum = md5File(part);
  if (sum !== key.md5) {
    rmSync(part, { force: true });
    throw new SocError("md5_mismatch", `the ${key.size} bytes sent for content ${key.md5} have md5 ${sum}; nothing was kept`, { status: 422 });
  }
  renameSync(part, whole);
}

const EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e";

function _files(store: Store, key: UploadKey): { whole: string; part: string } {
  if (!/^[0-9a-f]{32}$/.test(key.md5) || !Number.isSafeInteger(key.size) || key.size < 0) {
    throw new BadInputError(`bad upload: md5 ${JSON.stringify(key.md5)}, size ${key.size}`, "bad_upload");
  }
  const whole = join(store.stateDir, "uploads", `${key.md5}-${key.size}`);
  return { whole, part: `${whole}.part` };
}

function _size(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts a copy of `key`'s content at `to`: of the whole upload, never taken (another request, of
 * this push or another, may want it too; the commit that stores it drops it), or of a store file
 * among `sameContent()` that holds it. False when there is none: an upload a commit dropped
 * meanwhile (ENOENT) counts as none.
 */
/** Copies `from` (a whole upload, a store file) to `to` when it is there with `key`'s size; false when it is not. */
function _placed(key: UploadKey, to: string, from: string | undefined): boolean {
  try {
    if (from === undefined || _size(from) !== key.size) return false;
    _copyTo(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

function _copyTo(from: string, to: string): void {
  const tmp = tempBeside(to);
  copyFileSync(from, tmp);
  renameSync(tmp, to);
}

/** A store file the table says holds `key`'s content: a regular file of its size, under no symlink, whose md5 checks. */
async function _storeCopy(store: Store, table: TablePort, key: UploadKey): Promise<string | undefined> {
  if (store.cache) return undefined; // no tree to copy from
  const checked = new Set<string>();
  // Regular files only: a symlink's md5 and size are its target's.
  for (const path of await table.pathsWithContent(key.md5, key.size, 8)) {
    try {
      const abs = resolveIn(store.root, path, checked); // throws for a symlink among its parents: never read through
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st?.isFile() && st.size === key.size && md5File(abs) === key.md5) return abs;
    } catch {
      // not there any more, or not readable safely: the next one, or an upload
    }
  }
  return undefined;
}
