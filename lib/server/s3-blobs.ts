import { open, rename, rm, stat } from "node:fs/promises";
import { UsageError } from "../shared/errors.ts";
import { tempBeside } from "../shared/fs.ts";

/** Blobs moved to or from the object store at once, by one push, one journal run, one joining node or one session. */
export const BLOB_TRANSFERS = 8;

/**
 * Where and how to reach the bucket, from the server's config. A field left out is taken by
 * Bun.S3Client from S3_* / AWS_* environment variables (its own defaults, which cannot be turned
 * off), so config.ts should pass every one it means.
 */
export interface BlobStoreOptions {
  /** `s3://BUCKET` or `s3://BUCKET/PREFIX` (a trailing `/` is dropped). */
  url: string;
  /** The S3 endpoint, e.g. `https://s3.eu-west-1.amazonaws.com`; requests are path-style. */
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  /** Keys asked for per list request (default and S3's most: 1000); smaller only in tests. */
  pageSize?: number;
}

/** One blob in the store, as a listing shows it. */
export interface BlobInfo {
  sha256: string;
  /** Bytes. */
  size: number;
  /** When the store last wrote it (the store's clock). */
  lastModified: Date;
}

/**
 * Content-addressed blobs in a bucket, keyed `[PREFIX/]sha256/<first 2 hex>/<64 hex>`: a blob never
 * changes once written. Every `sha256` argument must be 64 lowercase hex digits (else a plain
 * Error: a server bug, not client input); a failed request throws an Error naming the blob and store.
 */
export interface BlobStore {
  /** `s3://BUCKET[/PREFIX]`, for messages (never a secret). */
  readonly name: string;
  /** Whether blob `sha256` is in the bucket (a HEAD; false too when the bucket itself is missing). */
  has(sha256: string): Promise<boolean>;
  /**
   * Uploads local `file` (`size` bytes) as blob `sha256` unless the bucket holds it already ("held":
   * nothing read or sent). Streamed, in parts when large; throws, leaving nothing in the bucket, when
   * the file is not `size` bytes with that sha256, and when the bucket holds another size under the key.
   */
  put(file: string, sha256: string, size: number): Promise<"sent" | "held">;
  /**
   * Streams blob `sha256` into a temp file beside `to`, fsyncs it and renames it over `to` once its
   * size and sha256 are checked; throws naming the blob when it is missing or differs, leaving `to` as it was.
   */
  fetch(sha256: string, size: number, to: string): Promise<void>;
  /**
   * Bytes `start`..`end` (inclusive offsets; default the whole blob) of blob `sha256`, streamed by a
   * ranged GET when read: a Response body. The stream errors (S3Error code NoSuchKey) when the blob is missing.
   */
  read(sha256: string, start?: number, end?: number): ReadableStream<Uint8Array>;
  /** Every blob in the store, in key order, page by page; other keys in the bucket are skipped. */
  list(): AsyncIterable<BlobInfo>;
  /** Deletes blob `sha256`; nothing happens when it is not there. */
  delete(sha256: string): Promise<void>;
  /** The id of the database whose content the store holds (a small object beside the blobs, `soc-database`), or undefined before one is written. */
  owner(): Promise<string | undefined>;
  /** Writes that id. */
  setOwner(databaseId: string): Promise<void>;
}

/** A BlobStore over Bun.S3Client; throws UsageError for a URL that is not s3://BUCKET[/PREFIX] with a valid bucket name and prefix. */
export function openBlobStore(opts: BlobStoreOptions): BlobStore {
  const { bucket, prefix } = _parseUrl(opts.url);
  if ((opts.accessKeyId === undefined) !== (opts.secretAccessKey === undefined)) {
    throw new UsageError("an S3 access key id and its secret go together: give both or neither");
  }
  const { url: _url, pageSize = 1000, ...reach } = opts;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new Error(`pageSize must be 1-1000, not ${pageSize}`);
  return new _S3Blobs(new Bun.S3Client({ ...reach, bucket }), bucket, prefix, pageSize);
}

// ---------------------------------------------------------------------------

const _MIB = 1024 * 1024;
/** S3 allows at most 10,000 parts of an upload, each at least 5 MiB (Bun's default part size). */
const _MAX_PARTS = 10_000;
const _MIN_PART = 5 * _MIB;
const _SHA256 = /^[0-9a-f]{64}$/;
const _BLOB_KEY = /^([0-9a-f]{2})\/([0-9a-f]{64})$/;
const _URL_HELP = "give s3://BUCKET or s3://BUCKET/PREFIX";

class _S3Blobs implements BlobStore {
  readonly name: string;
  /** Where every blob key starts: `PREFIX/sha256/` or `sha256/`. */
  readonly #root: string;

  constructor(
    private readonly client: Bun.S3Client,
    bucket: string,
    prefix: string,
    private readonly pageSize: number,
  ) {
    this.name = prefix === "" ? `s3://${bucket}` : `s3://${bucket}/${prefix}`;
    this.#root = prefix === "" ? "sha256/" : `${prefix}/sha256/`;
  }

  async has(sha256: string): Promise<boolean> {
    return this.#request("look for", sha256, () => this.client.exists(this.#key(sha256)));
  }

  async put(file: string, sha256: string, size: number): Promise<"sent" | "held"> {
    const key = this.#key(sha256);
    const local = (await stat(file)).size;
    if (local !== size) throw new Error(`${file} is ${local} bytes, not the ${size} of blob ${sha256}`);
    const held = await this.#request("look for", sha256, () => this.#sizeOf(key));
    if (held === size) return "held";
    if (held !== undefined) throw new Error(`blob ${sha256} in ${this.name} is ${held} bytes, not ${size}: the store is damaged`);
    // An error from the body stream aborts the upload (multipart included): a file that is not the blob leaves no object.
    const body = _checked(Bun.file(file).stream(), sha256, size, (what) => `${file} is not blob ${sha256}: ${what}`);
    const partSize = Math.max(_MIN_PART, Math.ceil(size / _MAX_PARTS / _MIB) * _MIB);
    await this.#request("upload", sha256, () => this.client.write(key, new Response(body), { partSize }));
    return "sent";
  }

  async fetch(sha256: string, size: number, to: string): Promise<void> {
    const key = this.#key(sha256);
    const tmp = tempBeside(to);
    const out = await open(tmp, "wx");
    let done = false;
    try {
      const body = _checked(this.client.file(key).stream(), sha256, size, (what) => `blob ${sha256} in ${this.name} is damaged: ${what}`);
      try {
        for await (const chunk of body) for (let at = 0; at < chunk.length;) at += (await out.write(chunk, at)).bytesWritten;
      } catch (error) {
        if (_code(error) === "NoSuchKey") throw new Error(`blob ${sha256} is missing from ${this.name}`);
        throw _code(error) === undefined ? error : this.#failed("download", sha256, error);
      }
      await out.sync();
      done = true;
    } finally {
      await out.close();
      if (!done) await rm(tmp, { force: true });
    }
    await rename(tmp, to);
  }

  read(sha256: string, start = 0, end?: number): ReadableStream<Uint8Array> {
    const file = this.client.file(this.#key(sha256));
    if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
      throw new Error(`bad byte range ${start}-${end ?? ""} of blob ${sha256}`);
    }
    // Never `new Response(s3File)`: Bun answers that with a 302 to a presigned URL of the whole object.
    // And the end is never the start (Bun reads slice(n, n) as one byte): `end` is inclusive.
    if (start === 0 && end === undefined) return file.stream();
    return (end === undefined ? file.slice(start) : file.slice(start, end + 1)).stream();
  }

  async *list(): AsyncIterable<BlobInfo> {
    let continuationToken: string | undefined;
    do {
      const page = await this.#request("list", "", () => this.client.list({ prefix: this.#root, maxKeys: this.pageSize, continuationToken }));
      for (const c of page.contents ?? []) {
        const m = _BLOB_KEY.exec(c.key.slice(this.#root.length));
        if (!m || !m[2]?.startsWith(m[1] ?? "")) continue;
        const lastModified = new Date(c.lastModified ?? Number.NaN);
        if (c.size === undefined || Number.isNaN(lastModified.getTime()))
          throw new Error(`${this.name}: the listing gave no size or date for ${c.key}`);
        yield { sha256: m[2], size: c.size, lastModified };
      }
      continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (continuationToken);
  }

  async delete(sha256: string): Promise<void> {
    await this.#request("delete", sha256, () => this.client.delete(this.#key(sha256)));
  }

  async owner(): Promise<string | undefined> {
    const key = this.#ownerKey();
    return this.#request("read its owner object (soc-database)", "", async () =>
      (await this.client.exists(key)) ? (await this.client.file(key).text()).trim() : undefined,
    );
  }

  async setOwner(databaseId: string): Promise<void> {
    await this.#request("write its owner object (soc-database)", "", () => this.client.write(this.#ownerKey(), `${databaseId}\n`));
  }

  #ownerKey(): string {
    return `${this.#root.slice(0, -"sha256/".length)}soc-database`;
  }

  #key(sha256: string): string {
    if (!_SHA256.test(sha256)) throw new Error(`not a sha256 (64 lowercase hex digits): ${JSON.stringify(sha256)}`);
    return `${this.#root}${sha256.slice(0, 2)}/${sha256}`;
  }

  /** The size of the object at `key`, or undefined when there is none (HEAD: a missing bucket looks the same). */
  async #sizeOf(key: string): Promise<number | undefined> {
    try {
      return (await this.client.stat(key)).size;
    } catch (error) {
      if (_code(error) === "NoSuchKey") return undefined;
      throw error;
    }
  }

  /** Runs one S3 request; an S3 error becomes one naming what was asked of which blob in which store. */
  async #request<T>(what: string, sha256: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw _code(error) === undefined ? error : this.#failed(what, sha256, error);
    }
  }

  #failed(what: string, sha256: string, error: unknown): Error {
    // Bun puts a whole XML error document in some messages, and a bare "an unexpected error has occurred" in others: the code says it.
    const message = (error as Error).message;
    const detail = message.startsWith("<") || message === "an unexpected error has occurred" ? "" : `: ${message}`;
    const blob = sha256 === "" ? "" : ` blob ${sha256}`;
    const code = _code(error);
    const unreachable = /^(ConnectionRefused|ConnectionClosed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|FailedToOpenSocket|UnknownHost|ENOTFOUND)$/.test(
      String(code),
    );
    const hint = unreachable ? " (nothing answers at the endpoint: check S3_ENDPOINT, and that the object store is up)" : "";
    // No cause: its XML may name the access key, and this message goes to the server's log.
    return new Error(`${this.name}: could not ${what}${blob}: ${code}${detail}${hint}`);
  }
}

/** `s3://BUCKET[/PREFIX]` → its parts; UsageError naming the part that is wrong (never echoing keys put in the URL). */
function _parseUrl(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(url);
  if (!m) throw new UsageError(`not an S3 URL: ${JSON.stringify(url.replace(/\/\/[^/]*@/, "//…@"))} (${_URL_HELP})`);
  const bucket = m[1] ?? "";
  if (bucket.includes("@")) throw new UsageError(`an S3 URL holds no keys (s3://…@${bucket.replace(/.*@/, "")}): give them apart from it`);
  const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket);
  if (!ok) {
    const rule = "3-63 of a-z, 0-9, '.' and '-', starting and ending with a letter or digit, not an IP address";
    throw new UsageError(`not an S3 bucket name: ${JSON.stringify(bucket)} (${rule})`);
  }
  const prefix = m[2]?.endsWith("/") ? m[2].slice(0, -1) : (m[2] ?? "");
  if (m[2] !== undefined && m[2] !== "" && !prefix.split("/").every((s) => /^[A-Za-z0-9._-]+$/.test(s) && s !== "." && s !== "..")) {
    throw new UsageError(
      `not a key prefix: ${JSON.stringify(prefix)} in ${url} (names of A-Z, a-z, 0-9, '.', '_' and '-' between '/', no '.' or '..')`,
    );
  }
  return { bucket, prefix };
}

/**
 * `source` passed through while it hashes it; it errors with `damaged(what differs)` instead of
 * ending when the bytes are not `size` long with sha256 `sha256` (and as soon as they run longer).
 */
function _checked(source: ReadableStream<Uint8Array>, sha256: string, size: number, damaged: (what: string) => string): ReadableStream<Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  let seen = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        seen += chunk.length;
        if (seen > size) throw new Error(damaged(`more than ${size} bytes`));
        hasher.update(chunk);
        out.enqueue(chunk);
      },
      flush() {
        if (seen !== size) throw new Error(damaged(`${seen} bytes, not ${size}`));
        const got = hasher.digest("hex");
        if (got !== sha256) throw new Error(damaged(`its sha256 is ${got}`));
      },
    }),
  );
}

/** The `code` of an S3Error (Bun's class is not exported), or undefined for any other error. */
function _code(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (error as Error | undefined)?.name === "S3Error" && typeof code === "string" ? code : undefined;
}
