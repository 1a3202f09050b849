import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { UsageError } from "../shared/errors.ts";
import { parseFailpoint, type FailpointSpec } from "./failpoint.ts";
import { DEFAULT_BLOB_GRACE_HOURS } from "./blob-gc.ts";
import type { BlobStoreOptions } from "./s3-blobs.ts";
import { isPostgresUrl } from "./open-table.ts";
import { parseCacheSize } from "./blob-cache.ts";

/** Everything `server.ts` needs to start; absolute paths. */
export interface ServerConfig {
  help: false;
  /** The store directory, or with --cache the cache directory. */
  store: string;
  /** --cache: the store is a node's bounded cache of the object store's blobs, this many bytes (--cache-size), not the live tree. */
  cacheBytes: number | undefined;
  /** The table: a SQLite file (absolute) or a postgres:// URL. */
  database: string;
  /** The object store that also holds every content, by sha256 (--content s3://BUCKET[/PREFIX]); undefined: the store directory alone. */
  content: BlobStoreOptions | undefined;
  /** Hours an unreferenced blob stays in the object store before garbage collection deletes it. */
  blobGraceHours: number;
  /** --import FILE: copy that SQLite table into the (PostgreSQL) --database, then exit. */
  importFrom: string | undefined;
  /** Server state beside the store: the database by default, and push stages. */
  stateDir: string;
  port: number;
  host: string;
  /** Bearer token every route but /v1/health requires; undefined = no auth. */
  token: string | undefined;
  insecure: boolean;
  /** Days replaced and deleted files are kept as versions; 0 keeps none. */
  keepDays: number;
  /** Crash tests only (SOC_TEST_FAILPOINT): where a commit fails or dies. */
  failpoint: FailpointSpec | undefined;
  /** Tunnel (rsync) sessions served at once; more are refused with 503 "busy". */
  maxRsyncSessions: number;
}

/** Default TCP port of the soc server. */
export const DEFAULT_PORT = 8417;

/** Days a replaced or deleted file's old content is kept when --keep-days is not given. */
export const DEFAULT_KEEP_DAYS = 30;

/** Bytes a node's cache (--cache) holds when --cache-size does not say: 10 GiB. */
export const DEFAULT_CACHE_BYTES = 10 * 1024 ** 3;

/** Tunnel (rsync) sessions a server runs at once when neither --max-rsync-sessions nor SOC_MAX_RSYNC_SESSIONS says. */
export const DEFAULT_MAX_RSYNC_SESSIONS = 16;

/** `soc-server --help` text. */
export const SERVER_USAGE = `usage: bun run server.ts --store DIR [options]
       bun run server.ts --cache DIR --database postgres://… --content s3://… [options]

  --store DIR         directory holding the synced files (required unless $SOC_STORE or --cache; created if missing)
  --cache DIR         instead of a store: a node of a cluster keeping only a cache of the bucket's content
                      in DIR, at most --cache-size (default 10G); each pull and push gets links to what it needs
  --database FILE|URL the table: a SQLite file, or postgres://USER:PASSWORD@HOST/DB for PostgreSQL
                      (default: $SOC_DATABASE, else <store parent>/.soc-server/soc.db; --db is the older name)
  --port N            TCP port, 0 for any free one (default: $SOC_PORT, else ${DEFAULT_PORT})
  --host H            address to listen on (default: 127.0.0.1)
  --token-file FILE   file holding the bearer token (default: $SOC_TOKEN)
  --insecure          allow a non-loopback --host, and any Host header, without a token
  --import FILE       copy the SQLite table FILE (a server's soc.db) into the empty PostgreSQL --database,
                      then exit: the server, started without it, goes on where the old one stopped
  --content s3://BUCKET[/PREFIX]
                      also keep every content in an S3 bucket, by its sha256 (default: $SOC_CONTENT);
                      the endpoint and keys come from S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY
                      and S3_REGION
  --cache-size SIZE   bytes the --cache holds, or K, M, G or T of them (default 10G)
  --blob-grace-hours N
                      leave a blob no row points at N hours before deleting it (default: ${DEFAULT_BLOB_GRACE_HOURS})
  --keep-days N       keep replaced and deleted files' old content N days (default: ${DEFAULT_KEEP_DAYS}; 0 keeps none)
  --max-rsync-sessions N
                      serve at most N tunnel (rsync) sessions at once; more are told the server is
                      busy (HTTP 503) (default: $SOC_MAX_RSYNC_SESSIONS, else ${DEFAULT_MAX_RSYNC_SESSIONS})
  --help              show this help`;

/**
 * Reads the server's flags (`argv` without the runtime and script) and environment: SOC_TOKEN,
 * SOC_STORE / SOC_DATABASE / SOC_PORT / SOC_MAX_RSYNC_SESSIONS as defaults for --store /
 * --database / --port / --max-rsync-sessions (flags win; empty counts as unset; a URL with a
 * password is better kept out of `ps` in SOC_DATABASE), and SOC_TEST_FAILPOINT, which only crash
 * tests set.
 * Returns `{ help: true }` for --help; throws UsageError for anything malformed or unsafe.
 */
export function readServerConfig(argv: string[], env: Record<string, string | undefined>): ServerConfig | { help: true } {
  const { values } = _parse(argv);
  if (values.help) return { help: true };
  if (values.store !== undefined && values.cache !== undefined) throw new UsageError("give --store DIR or --cache DIR, not both");
  const storeArg = values.cache ?? values.store ?? (env.SOC_STORE?.trim() || undefined);
  if (!storeArg) throw new UsageError("--store DIR is required");
  const store = resolve(storeArg);
  const stateDir = join(dirname(store), ".soc-server");
  const envPort = env.SOC_PORT?.trim() || undefined;
  const port = values.port !== undefined ? _port("--port", values.port) : _port("SOC_PORT", envPort ?? String(DEFAULT_PORT));
  const host = (values.host ?? "127.0.0.1").replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw new UsageError("--host must not be empty");
  const token = _token(values["token-file"], env);
  const insecure = values.insecure ?? false;
  if (token === undefined && !insecure && !_isLoopback(host)) {
    throw new UsageError(`refusing to listen on ${host} without a token: set SOC_TOKEN or --token-file, or pass --insecure`);
  }
  const keepDays = _keepDays(values["keep-days"] ?? String(DEFAULT_KEEP_DAYS));
  const maxRsyncSessions = _maxRsyncSessions(values["max-rsync-sessions"], env.SOC_MAX_RSYNC_SESSIONS?.trim() || undefined);
  const failpoint = env.SOC_TEST_FAILPOINT ? parseFailpoint(env.SOC_TEST_FAILPOINT) : undefined;
  const content = _content(values.content ?? (env.SOC_CONTENT?.trim() || undefined), env);
  const blobGraceHours = _wholeNumber("--blob-grace-hours", values["blob-grace-hours"] ?? String(DEFAULT_BLOB_GRACE_HOURS));
  const database = _database(values.database ?? values.db ?? (env.SOC_DATABASE?.trim() || undefined), stateDir);
  const importFrom = values.import === undefined ? undefined : resolve(values.import);
  const cacheBytes = _cacheBytes(values.cache !== undefined, values["cache-size"], content, database);
  if (importFrom !== undefined && !isPostgresUrl(database))
    throw new UsageError("--import copies a SQLite table into PostgreSQL: give --database postgres://…");
  return {
    help: false,
    store,
    cacheBytes,
    database,
    content,
    blobGraceHours,
    importFrom,
    stateDir,
    port,
    host,
    token,
    insecure,
    keepDays,
    maxRsyncSessions,
    failpoint,
  };
}

// ---------------------------------------------------------------------------

function _parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        store: { type: "string" },
        cache: { type: "string" },
        "cache-size": { type: "string" },
        database: { type: "string" },
        content: { type: "string" },
        import: { type: "string" },
        "blob-grace-hours": { type: "string" },
        db: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        "token-file": { type: "string" },
        insecure: { type: "boolean" },
        "keep-days": { type: "string" },
        "max-rsync-sessions": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${SERVER_USAGE}`);
  }
}

function _content(url: string | undefined, env: Record<string, string | undefined>): BlobStoreOptions | undefined {
  if (url === undefined) return undefined;
  if (!url.startsWith("s3://")) throw new UsageError("--content must be s3://BUCKET[/PREFIX]");
  const from = (name: string) => env[name]?.trim() || undefined;
  const options = {
    url,
    endpoint: from("S3_ENDPOINT"),
    accessKeyId: from("S3_ACCESS_KEY_ID"),
    secretAccessKey: from("S3_SECRET_ACCESS_KEY"),
    region: from("S3_REGION"),
  };
  return { ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Omit<BlobStoreOptions, "url">), url };
}

function _cacheBytes(cache: boolean, size: string | undefined, content: BlobStoreOptions | undefined, database: string): number | undefined {
  if (!cache) {
    if (size !== undefined) throw new UsageError("--cache-size sizes a --cache DIR: give one");
    return undefined;
  }
  if (content === undefined) throw new UsageError("--cache keeps content of an object store: give --content s3://BUCKET");
  if (!isPostgresUrl(database)) throw new UsageError("--cache makes this server a node of a cluster: give --database postgres://…");
  if (size === undefined) return DEFAULT_CACHE_BYTES;
  const bytes = parseCacheSize(size);
  if (bytes === undefined)
    throw new UsageError(`--cache-size must be a number of bytes, or of K, M, G or T (as 512M, 20G), got ${JSON.stringify(size)}`);
  return bytes;
}

function _wholeNumber(name: string, value: string): number {
  if (!/^[0-9]{1,6}$/.test(value)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

function _database(value: string | undefined, stateDir: string): string {
  if (value === undefined) return join(stateDir, "soc.db");
  if (value.trim() === "") throw new UsageError("--database must not be empty");
  if (!isPostgresUrl(value)) return resolve(value);
  try {
    new URL(value);
  } catch {
    throw new UsageError("--database is not a valid postgres:// URL");
  }
  return value;
}

function _port(name: string, value: string): number {
  const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`${name} must be a number from 0 to 65535, got ${JSON.stringify(value)}`);
  return port;
}

function _keepDays(value: string): number {
  if (!/^[0-9]{1,5}$/.test(value)) throw new UsageError(`--keep-days must be a whole number of days (0 keeps none), got ${JSON.stringify(value)}`);
  return Number(value);
}

function _maxRsyncSessions(flag: string | undefined, env: string | undefined): number {
  const [name, value] = flag !== undefined ? ["--max-rsync-sessions", flag] : ["SOC_MAX_RSYNC_SESSIONS", env ?? String(DEFAULT_MAX_RSYNC_SESSIONS)];
  const n = /^[0-9]{1,5}$/.test(value) ? Number(value) : 0;
  if (n < 1) throw new UsageError(`${name} must be a whole number of sessions, at least 1, got ${JSON.stringify(value)}`);
  return n;
}

function _token(file: string | undefined, env: Record<string, string | undefined>): string | undefined {
  const token = _rawToken(file, env);
  if (token !== undefined && /\s/.test(token)) throw new UsageError("the token must not contain whitespace");
  return token;
}

function _rawToken(file: string | undefined, env: Record<string, string | undefined>): string | undefined {
  if (file === undefined) {
    if (env.SOC_TOKEN === undefined) return undefined;
    const token = env.SOC_TOKEN.trim();
    if (token === "") throw new UsageError("SOC_TOKEN is set but empty; unset it or give it a token");
    return token;
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read --token-file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const token = text.trim();
  if (token === "") throw new UsageError(`--token-file ${file} is empty`);
  return token;
}

function _isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127(\.[0-9]{1,3}){3}$/.test(host);
}
