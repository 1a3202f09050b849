import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "../../../lib/shared/errors.ts";
import { DEFAULT_BLOB_GRACE_HOURS } from "../../../lib/server/blob-gc.ts";
import { DEFAULT_CACHE_BYTES, DEFAULT_KEEP_DAYS, DEFAULT_MAX_RSYNC_SESSIONS, DEFAULT_PORT, readServerConfig } from "../../../lib/server/config.ts";
import { tempDir } from "../../_harness/fs.ts";

describe("readServerConfig", () => {
  test("defaults: state beside the store, loopback, port 8417, no token", () => {
    expect(readServerConfig(["--store", "/srv/files"], {})).toEqual({
      help: false,
      store: "/srv/files",
      cacheBytes: undefined,
      database: "/srv/.soc-server/soc.db",
      content: undefined,
      blobGraceHours: DEFAULT_BLOB_GRACE_HOURS,
      importFrom: undefined,
      stateDir: "/srv/.soc-server",
      port: DEFAULT_PORT,
      host: "127.0.0.1",
      token: undefined,
      insecure: false,
      keepDays: DEFAULT_KEEP_DAYS,
      maxRsyncSessions: DEFAULT_MAX_RSYNC_SESSIONS,
      failpoint: undefined,
    });
  });

  test("SOC_TEST_FAILPOINT names a commit step, which time it is reached, and throw or kill", () => {
    expect(readServerConfig(["--store", "/s"], { SOC_TEST_FAILPOINT: "written@2:kill" })).toMatchObject({
      failpoint: { step: "written", nth: 2, action: "kill" },
    });
    expect(readServerConfig(["--store", "/s"], { SOC_TEST_FAILPOINT: "kept:throw" })).toMatchObject({
      failpoint: { step: "kept", nth: 1, action: "throw" },
    });
    expect(() => readServerConfig(["--store", "/s"], { SOC_TEST_FAILPOINT: "nowhere:kill" })).toThrow(
      'SOC_TEST_FAILPOINT must be STEP[@N]:throw|kill with STEP one of staged, uploaded, committed, kept, deleted, written, synced; got "nowhere:kill"',
    );
  });

  test("flags override the defaults; relative paths become absolute", () => {
    const config = readServerConfig(["--store=files", "--db", "x.db", "--port", "0", "--host", "[::1]", "--keep-days", "0"], {});
    expect(config).toMatchObject({ store: resolve("files"), database: resolve("x.db"), port: 0, host: "::1", keepDays: 0 });
  });

  test("--help wins over everything else", () => {
    expect(readServerConfig(["--help"], {})).toEqual({ help: true });
  });

  test("bad flags are usage errors with a clear message", () => {
    const cases: [string[], string][] = [
      [[], "--store DIR is required"],
      [["--store", "s", "--port", "http"], '--port must be a number from 0 to 65535, got "http"'],
      [["--store", "s", "--port", "70000"], '--port must be a number from 0 to 65535, got "70000"'],
      [["--store", "s", "--host", ""], "--host must not be empty"],
      [["--store", "s", "--keep-days=-1"], '--keep-days must be a whole number of days (0 keeps none), got "-1"'],
      [["--store", "s", "--keep-days", "1.5"], '--keep-days must be a whole number of days (0 keeps none), got "1.5"'],
      [["--store", "s", "--max-rsync-sessions", "0"], '--max-rsync-sessions must be a whole number of sessions, at least 1, got "0"'],
      [["--store", "s", "--max-rsync-sessions", "two"], '--max-rsync-sessions must be a whole number of sessions, at least 1, got "two"'],
      [["--store", "s", "--database", ""], "--database must not be empty"],
      [["--store", "s", "--database", "postgres://[x"], "--database is not a valid postgres:// URL"],
      [["--store", "s", "--content", "https://bucket"], "--content must be s3://BUCKET[/PREFIX]"],
      [["--store", "s", "--blob-grace-hours=-1"], '--blob-grace-hours must be a whole number, got "-1"'],
      [["--store", "s", "--import", "soc.db"], "--import copies a SQLite table into PostgreSQL: give --database postgres://…"],
    ];
    for (const [argv, message] of cases) expect(() => readServerConfig(argv, {})).toThrow(new UsageError(message));
    expect(() => readServerConfig(["--store", "s", "--verbose"], {})).toThrow(/Unknown option '--verbose'/);
    expect(() => readServerConfig(["--store", "s", "extra"], {})).toThrow(UsageError);
    expect(() => readServerConfig(["--store"], {})).toThrow(UsageError);
  });

  test("the token comes from --token-file (trimmed) or SOC_TOKEN", async () => {
    using dir = tempDir("soc-config-");
    const file = join(dir.path, "token");
    writeFileSync(file, "  from-file\n");
    expect(readServerConfig(["--store", "s", "--token-file", file], { SOC_TOKEN: "env" })).toMatchObject({ token: "from-file" });
    expect(readServerConfig(["--store", "s"], { SOC_TOKEN: " env\n" })).toMatchObject({ token: "env" });
    writeFileSync(file, "\n");
    expect(() => readServerConfig(["--store", "s", "--token-file", file], {})).toThrow(`--token-file ${file} is empty`);
    expect(() => readServerConfig(["--store", "s", "--token-file", join(dir.path, "nope")], {})).toThrow("ENOENT");
    expect(() => readServerConfig(["--store", "s"], { SOC_TOKEN: "" })).toThrow("SOC_TOKEN is set but empty");
    expect(() => readServerConfig(["--store", "s"], { SOC_TOKEN: "a b" })).toThrow("must not contain whitespace");
  });

  test("a non-loopback host needs a token or --insecure", () => {
    expect(() => readServerConfig(["--store", "s", "--host", "0.0.0.0"], {})).toThrow(
      "refusing to listen on 0.0.0.0 without a token: set SOC_TOKEN or --token-file, or pass --insecure",
    );
    expect(readServerConfig(["--store", "s", "--host", "0.0.0.0", "--insecure"], {})).toMatchObject({ host: "0.0.0.0", insecure: true });
    expect(readServerConfig(["--store", "s", "--host", "0.0.0.0"], { SOC_TOKEN: "t" })).toMatchObject({ token: "t" });
    for (const host of ["localhost", "127.0.0.1", "127.1.2.3", "::1"]) {
      expect(readServerConfig(["--store", "s", "--host", host], {})).toMatchObject({ host });
    }
  });
});

describe("readServerConfig: SOC_STORE and SOC_PORT", () => {
  test("are the defaults for --store and --port", () => {
    expect(readServerConfig([], { SOC_STORE: "/srv/files", SOC_PORT: "9000" })).toMatchObject({
      store: "/srv/files",
      stateDir: "/srv/.soc-server",
      database: "/srv/.soc-server/soc.db",
      port: 9000,
    });
  });

  test("flags win over them", () => {
    expect(readServerConfig(["--store", "/a", "--port", "0"], { SOC_STORE: "/b", SOC_PORT: "9000" })).toMatchObject({ store: "/a", port: 0 });
  });

  test("empty counts as unset", () => {
    expect(() => readServerConfig([], { SOC_STORE: " " })).toThrow(new UsageError("--store DIR is required"));
    expect(readServerConfig(["--store", "/a"], { SOC_PORT: "" })).toMatchObject({ port: DEFAULT_PORT });
  });

  test("a bad SOC_PORT is a usage error naming it", () => {
    expect(() => readServerConfig(["--store", "/a"], { SOC_PORT: "http" })).toThrow(
      new UsageError('SOC_PORT must be a number from 0 to 65535, got "http"'),
    );
    expect(readServerConfig(["--store", "/a", "--port", "1"], { SOC_PORT: "http" })).toMatchObject({ port: 1 });
  });
});

describe("readServerConfig: the cap on rsync sessions", () => {
  test("comes from --max-rsync-sessions, else SOC_MAX_RSYNC_SESSIONS (empty counts as unset), else the default", () => {
    expect(readServerConfig(["--store", "/a", "--max-rsync-sessions", "2"], { SOC_MAX_RSYNC_SESSIONS: "3" })).toMatchObject({ maxRsyncSessions: 2 });
    expect(readServerConfig(["--store", "/a"], { SOC_MAX_RSYNC_SESSIONS: " 3 " })).toMatchObject({ maxRsyncSessions: 3 });
    expect(readServerConfig(["--store", "/a"], { SOC_MAX_RSYNC_SESSIONS: "" })).toMatchObject({ maxRsyncSessions: DEFAULT_MAX_RSYNC_SESSIONS });
  });

  test("a bad SOC_MAX_RSYNC_SESSIONS is a usage error naming it", () => {
    expect(() => readServerConfig(["--store", "/a"], { SOC_MAX_RSYNC_SESSIONS: "-1" })).toThrow(
      new UsageError('SOC_MAX_RSYNC_SESSIONS must be a whole number of sessions, at least 1, got "-1"'),
    );
  });
});

describe("readServerConfig: the table and the content store", () => {
  test("--database takes a SQLite file or a postgres:// URL, else SOC_DATABASE; --content an s3:// URL with S3_* for the rest", () => {
    const env = {
      SOC_DATABASE: "postgres://soc@db/soc",
      S3_ENDPOINT: "http://127.0.0.1:9000",
      S3_ACCESS_KEY_ID: "id",
      S3_SECRET_ACCESS_KEY: "secret",
    };
    expect(readServerConfig(["--store", "/srv/files", "--content", "s3://bucket/soc", "--blob-grace-hours", "2"], env)).toMatchObject({
      database: "postgres://soc@db/soc",
      content: { url: "s3://bucket/soc", endpoint: "http://127.0.0.1:9000", accessKeyId: "id", secretAccessKey: "secret" },
      blobGraceHours: 2,
    });
    expect(readServerConfig(["--store", "/srv/files", "--database", "x.db"], { ...env, SOC_CONTENT: "s3://b2" })).toMatchObject({
      database: resolve("x.db"),
      content: { url: "s3://b2" },
    });
  });

  test("--cache DIR takes the store's place on a node of a cluster, holding --cache-size bytes (10G unless it says)", () => {
    const env = { SOC_DATABASE: "postgres://soc@db/soc", SOC_CONTENT: "s3://bucket" };
    expect(readServerConfig(["--cache", "/var/cache/soc"], env)).toMatchObject({
      store: "/var/cache/soc",
      stateDir: "/var/cache/.soc-server",
      cacheBytes: DEFAULT_CACHE_BYTES,
    });
    expect(readServerConfig(["--cache", "/c", "--cache-size", "512M"], { ...env, SOC_STORE: "/ignored" })).toMatchObject({
      store: "/c",
      cacheBytes: 512 * 1024 ** 2,
    });
    expect(readServerConfig(["--cache", "/c", "--cache-size", "2GiB"], env)).toMatchObject({ cacheBytes: 2 * 1024 ** 3 });
    expect(readServerConfig(["--cache", "/c", "--cache-size", "4096"], env)).toMatchObject({ cacheBytes: 4096 });
    expect(() => readServerConfig(["--cache", "/c", "--store", "/s"], env)).toThrow(new UsageError("give --store DIR or --cache DIR, not both"));
    expect(() => readServerConfig(["--cache", "/c", "--cache-size", "lots"], env)).toThrow(
      new UsageError('--cache-size must be a number of bytes, or of K, M, G or T (as 512M, 20G), got "lots"'),
    );
    expect(() => readServerConfig(["--cache", "/c", "--cache-size", "0"], env)).toThrow(/--cache-size must be/);
    expect(() => readServerConfig(["--cache", "/c"], { SOC_DATABASE: env.SOC_DATABASE })).toThrow(
      new UsageError("--cache keeps content of an object store: give --content s3://BUCKET"),
    );
    expect(() => readServerConfig(["--cache", "/c"], { SOC_CONTENT: "s3://bucket" })).toThrow(
      new UsageError("--cache makes this server a node of a cluster: give --database postgres://…"),
    );
    expect(() => readServerConfig(["--store", "/s", "--cache-size", "1G"], env)).toThrow(
      new UsageError("--cache-size sizes a --cache DIR: give one"),
    );
  });
});
