import { chownSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./fs.ts";
import { freePort } from "./proc.ts";

/** A throwaway PostgreSQL cluster on 127.0.0.1; `await using` stops it and removes its files. */
export interface TestPostgres extends AsyncDisposable {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: trust authentication, loopback only. */
  url: string;
  /** A URL of a new, empty database in this cluster (for a test of its own). */
  createDatabase(name: string): Promise<string>;
}

/**
 * Starts a cluster of Debian's PostgreSQL (initdb and pg_ctl, as the postgres user: they refuse
 * root) in a temp directory, on a free loopback port with its socket in that directory; without
 * fsync unless `durable` (a benchmark's commits must reach the disk, a test's need not).
 * A start-up that fails halfway stops what it started and removes its directory.
 */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<TestPostgres> {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(tempDir("soc-pg-")).path;
  const { uid, gid } = _postgresUser();
  chownSync(dir, uid, gid);
  const bin = _binDir();
  const data = join(dir, "data");
  const asPostgres = (argv: string[]) => _run(["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", ...argv]);
  // A linguistic default collation (ICU's en-US: "a" before "B", where code points put "B" first):
  // a query that sorts or compares paths without soc's COLLATE "C" gives another order than SQLite's.
  asPostgres([
    join(bin, "initdb"),
    "-D",
    data,
    "-A",
    "trust",
    "-U",
    "postgres",
    "--no-sync",
    "-E",
    "UTF8",
    "--locale=C",
    "--locale-provider=icu",
    "--icu-locale=en-US",
  ]);
  const port = freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${opts.durable ? "" : " -c fsync=off -c full_page_writes=off"}`;
  stack.defer(() => {
    try {
      asPostgres([join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
    } catch {
      // never started (its own error says why), or already stopped
    }
  });
  asPostgres([join(bin, "pg_ctl"), "-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const owned = stack.move();
  return {
    url,
    createDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await using admin = new Bun.SQL(url);
      await admin.unsafe(`CREATE DATABASE ${name}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

// ---------------------------------------------------------------------------

/** The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/VERSION/bin). */
function _binDir(): string {
  const versions = (existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql") : [])
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error("PostgreSQL is not installed: run `make tools`");
  return join("/usr/lib/postgresql", versions[0] as string, "bin");
}

function _postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString().trim());
  return { uid: id("-u"), gid: id("-g") };
}

function _run(argv: string[]): void {
  const res = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (res.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${res.exitCode}: ${res.stderr.toString()}${res.stdout.toString()}`);
}
