import { chmodSync, closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { RemoteError, SocError } from "../shared/errors.ts";
import { PERMISSION_BITS, setMtimeNs } from "../shared/fs.ts";
import { quotePath } from "../shared/paths.ts";
import { CHANGESET_PART_BYTES, PLACE_MAX_FILES } from "../shared/wire.ts";
import { eachInParallel, inBatches } from "../shared/batches.ts";
import type { RemoteClient } from "./api.ts";
import type { OnProgress, TransferFile, Transport } from "./transport.ts";

/** Files moved at once. */
const AT_ONCE = 4;
/** Tries per file before a push or pull gives up; each after the first resumes where the last stopped. */
const ATTEMPTS = 4;

/**
 * The transport without rsync, over the API alone (Windows, or networks that block WebSocket
 * upgrades). Up: content the server already holds (an earlier upload, or the same bytes in its
 * store) is placed in the stage without being sent; the rest is streamed to /v1/uploads, resuming
 * at the offset the server holds, and checked against its md5 on arrival. Down: GET /v1/content,
 * resumed with a Range request when a download breaks off; each file then gets the table's mode
 * (where the filesystem holds modes) and mtime.
 */
export function httpTransport(client: RemoteClient): Transport {
  return {
    async upload(top, files, stage, compare, onProgress) {
      const count = _counter(onProgress);
      // A repair (--force) re-sends everything: the store's copies are what it doubts.
      const fromStore = compare !== "checksum";
      const missing = await _place(client, stage.stage, files, fromStore);
      // Each content once, however many paths want it: a second upload of it would only wait on the first.
      const contents = [...new Map(missing.map((f) => [_contentKey(f), f])).values()];
      await eachInParallel(contents, AT_ONCE, (f) => _upload(client, top, f, count));
      // From the store too: a push that took the same upload meanwhile has committed it there.
      const lost = await _place(client, stage.stage, missing, fromStore);
      if (lost.length > 0) {
        throw new SocError(
          "upload_lost",
          `the server did not keep the upload of ${quotePath(lost[0]?.path ?? "")}${lost.length > 1 ? ` and ${lost.length - 1} more` : ""}; push again`,
        );
      }
    },
    async download(files, dest, onProgress) {
      const count = _counter(onProgress);
      await eachInParallel(files, AT_ONCE, (f) => _download(client, f, join(dest, ...f.path.split("/")), count));
    },
  };
}

// ---------------------------------------------------------------------------

/** Places `files` in the stage, in requests of at most PLACE_MAX_FILES and about CHANGESET_PART_BYTES; returns those the server had no content for. */
async function _place(client: RemoteClient, stage: string, files: readonly TransferFile[], fromStore: boolean): Promise<TransferFile[]> {
  const missing: TransferFile[] = [];
  // Each entry: the path, quoted and escaped, and the rest of it.
  for (const batch of inBatches(files, PLACE_MAX_FILES, CHANGESET_PART_BYTES, (f) => Buffer.byteLength(f.path) + 120)) {
    const byPath = new Map(batch.map((f) => [f.path, f]));
    const placed = await client.place({ stage, fromStore, files: batch.map(({ path, md5, size, mtimeNs }) => ({ path, md5, size, mtimeNs })) });
    for (const path of placed.missing) {
      const f = byPath.get(path);
      if (f) missing.push(f);
    }
  }
  return missing;
}

/** Sends `f`'s bytes the server does not hold yet; tries again from where the server got to when the connection breaks. */
async function _upload(client: RemoteClient, top: string, f: TransferFile, count: (bytes: number) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let offset = 0;
    try {
      offset = await client.uploadOffset(f.md5, f.size);
      if (offset >= f.size) return; // whole already: another path with the same content, or an earlier try
      const body = Bun.file(join(top, ...f.path.split("/")))
        .slice(offset, f.size) // grown since the scan: the md5 then tells
        .stream()
        .pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, out) => (count(chunk.byteLength), out.enqueue(chunk)) }));
      if ((await client.appendUpload(f.md5, f.size, offset, body)) >= f.size) return;
      throw new SocError("changed_while_sent", `${quotePath(f.path)} got shorter while it was sent; push again`);
    } catch (error) {
      const code = error instanceof SocError ? error.code : undefined;
      // A whole upload that does not hash to the md5: the file changed since the scan (or, resumed, the part held was bad: it is gone now).
      if (code === "md5_mismatch" && offset === 0)
        throw new SocError("changed_while_sent", `${quotePath(f.path)} changed while it was sent; push again`);
      const retry = error instanceof RemoteError || code === "md5_mismatch" || code === "upload_offset" || code === "upload_busy";
      if (!retry || attempt >= ATTEMPTS) throw error;
      await Bun.sleep(200 * attempt);
    }
  }
}

/** Downloads `f` to `to`, resuming with a Range request when the body breaks off, then gives it the row's mode and mtime. */
async function _download(client: RemoteClient, f: TransferFile, to: string, count: (bytes: number) => void): Promise<void> {
  mkdirSync(dirname(to), { recursive: true });
  const fd = openSync(to, "w", 0o600);
  let at = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      if (at > 0 && at === f.size) break; // every byte came before the connection broke: the pull checks them against the md5
      const content = await client.content(f.path, undefined, at > 0 ? { offset: at, md5: f.md5 } : undefined).catch((error: unknown) => {
        if (error instanceof RemoteError && attempt < ATTEMPTS) return undefined; // unreachable for now: try again
        throw error;
      });
      try {
        if (content === undefined) throw new RemoteError("no answer");
        if (content.offset !== at) {
          ftruncateSync(fd, 0); // the content changed since: all of it came
          at = 0;
        }
        for await (const chunk of content.body) {
          for (let done = 0; done < chunk.byteLength;) done += writeSync(fd, chunk, done, chunk.byteLength - done, at + done);
          at += chunk.byteLength;
          count(chunk.byteLength);
        }
        // A connection that ends early can look like a body that ended: its Content-Length tells,
        // or the row's size when a proxy sent it without one.
        const end = content.length === undefined ? f.size : content.offset + content.length;
        if (at < end) throw new Error(`the body ended after ${at} of ${end} bytes`);
        break;
      } catch (error) {
        if (attempt >= ATTEMPTS)
          throw new RemoteError(`the download of ${quotePath(f.path)} broke off ${ATTEMPTS} times: ${(error as Error).message}`);
        await Bun.sleep(200 * attempt);
      }
    }
  } finally {
    closeSync(fd);
  }
  setModeAndTime(to, f);
}

/** As rsync -tp would: the row's permission bits, unless this filesystem holds none (left alone), and its mtime. */
export function setModeAndTime(path: string, f: TransferFile): void {
  try {
    if (f.mode !== undefined) chmodSync(path, f.mode & PERMISSION_BITS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
  }
  setMtimeNs(path, f.mtimeNs);
}

/** The content a file has, as the server's uploads are named: its md5 and size. */
function _contentKey(f: TransferFile): string {
  return `${f.md5}-${f.size}`;
}

/** Adds up the bytes moved and reports the total. */
function _counter(onProgress: OnProgress | undefined): (bytes: number) => void {
  let total = 0;
  return (bytes) => {
    total += bytes;
    onProgress?.({ bytes: total });
  };
}
