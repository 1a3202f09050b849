import type { Database } from "bun:sqlite";
import { openDb, type Migration } from "../shared/db.ts";
import type { RootRule } from "./roots.ts";
import type { Findings } from "./scan.ts";

/** What the working tree and the server last agreed on for one path (DESIGN.md "base"). */
export interface BaseEntry {
  path: string;
  size: number;
  /** Modification time in nanoseconds since the epoch, exact. */
  mtimeNs: bigint;
  /** Inode change time in nanoseconds since the epoch, exact. */
  ctimeNs: bigint;
  md5: string;
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  /** Server revision that produced this content. */
  rev: number;
  /** Wall-clock time (ns) of the scan that took this stat; decides racy-clean. */
  checkedNs: bigint;
  /** A symlink: its target (`md5` and `size` are the target's). */
  link?: string;
}

/** One step of the base's generation (a trigger's body). */
const _BUMP = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'base_generation';";

const MIGRATIONS: Migration[] = [
  `CREATE TABLE roots (
     path TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'exclude'))
   ) WITHOUT ROWID;
   CREATE TABLE roots_base (
     path TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'exclude'))
   ) WITHOUT ROWID;
   CREATE TABLE base (
     path TEXT PRIMARY KEY,
     size INTEGER NOT NULL,
     mtime_ns INTEGER NOT NULL,
     ctime_ns INTEGER NOT NULL,
     md5 TEXT NOT NULL,
     mode INTEGER NOT NULL,
     rev INTEGER NOT NULL,
     checked_ns INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`,
  // The newest server revision the tree has seen (noteRevision), kept so a session need not scan the base for it.
  `INSERT OR REPLACE INTO meta (key, value)
     SELECT 'known_revision', CAST(MAX(COALESCE((SELECT MAX(rev) FROM base), 0),
       COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'revision'), 0)) AS TEXT);`,
  // Every change to the base, by any code, moves its generation: the base's snapshot (base-snapshot.ts) names the one it copies.
  `INSERT OR REPLACE INTO meta (key, value) VALUES ('base_generation', '1');
   CREATE TRIGGER base_inserted AFTER INSERT ON base BEGIN ${_BUMP} END;
   CREATE TRIGGER base_updated AFTER UPDATE ON base BEGIN ${_BUMP} END;
   CREATE TRIGGER base_deleted AFTER DELETE ON base BEGIN ${_BUMP} END;`,
  // A symlink's target: the entry is a link, never followed (its md5 and size are the target's).
  `ALTER TABLE base ADD COLUMN link TEXT;`,
];

/** Opens the working tree's state database at `file`, creating and migrating it as needed. */
export function openState(file: string): Database {
  return openDb(file, MIGRATIONS);
}

/** The tracked-root rules (`table` "roots_base": as last agreed with the server). */
export function readRoots(db: Database, table: "roots" | "roots_base" = "roots"): RootRule[] {
  return db.query(`SELECT path, kind FROM ${table} ORDER BY path`).all() as RootRule[];
}

/** Replaces the whole rule set in `table`. */
export function writeRoots(db: Database, rules: readonly RootRule[], table: "roots" | "roots_base" = "roots"): void {
  db.transaction(() => {
    db.exec(`DELETE FROM ${table}`);
    const insert = db.query(`INSERT INTO ${table} (path, kind) VALUES ($path, $kind)`);
    for (const r of rules) insert.run({ path: r.path, kind: r.kind });
  })();
}

/** Every base entry, keyed by path. */
export function readBase(db: Database): Map<string, BaseEntry> {
  const rows = db.query(`SELECT ${_ENTRY_COLUMNS} FROM base`).safeIntegers(true).values() as _BaseRow[];
  return new Map(rows.map((row) => [row[0], _toEntry(row)]));
}

/** The base's generation now (meta "base_generation": every change to the base moves it). */
export function baseGeneration(db: Database): number {
  return Number(getMeta(db, BASE_GENERATION) ?? "0");
}

/**
 * Every base path with its stat numbers as a scan compares them (numbers only, no BigInt): size,
 * mtime s, mtime ns, ctime s, ctime ns (nanoseconds divided and remaindered by 1e9, toward zero),
 * and 1 when the entry was recorded safely after its mtime, 0 when it is racily clean; read
 * in one transaction with the generation they are.
 */
export function readBaseStats(db: Database): { generation: number; rows: [string, number, number, number, number, number, number][] } {
  return db.transaction(() => ({
    generation: baseGeneration(db),
    rows: db
      .query(
        `SELECT path, size, mtime_ns / 1000000000, mtime_ns % 1000000000, ctime_ns / 1000000000, ctime_ns % 1000000000,
                checked_ns - mtime_ns >= ${RACY_WINDOW_NS} FROM base`,
      )
      .values() as [string, number, number, number, number, number, number][],
  }))();
}

/** The base entries of `paths` only (a pull looks at just the paths that changed): one query for them all. */
export function readBaseFor(db: Database, paths: Iterable<string>): Map<string, BaseEntry> {
  const rows = db
    .query(`SELECT ${_ENTRY_COLUMNS} FROM base WHERE path IN (SELECT value FROM json_each($list))`)
    .safeIntegers(true)
    .values({ list: JSON.stringify([...paths]) }) as _BaseRow[];
  return new Map(rows.map((row) => [row[0], _toEntry(row)]));
}

/**
 * The base entries at each of `paths` or below it: one query for the entries at them, then a
 * range of the index for each path that is no entry itself (a directory, or nothing yet).
 */
export function readBaseWithin(db: Database, paths: readonly string[]): Map<string, BaseEntry> {
  const out = readBaseFor(db, paths);
  // Paths under dir sort between "dir/" and "dir0" ("0" follows "/"), as in baseHasBelow.
  const below = db.query(`SELECT ${_ENTRY_COLUMNS} FROM base WHERE path > $lo AND path < $hi`).safeIntegers(true);
  for (const path of paths) {
    if (out.has(path)) continue; // a file's entry: nothing can lie below it
    for (const row of below.values({ lo: `${path}/`, hi: `${path}0` }) as _BaseRow[]) out.set(row[0], _toEntry(row));
  }
  return out;
}

/** Every path the base holds. */
export function basePaths(db: Database): string[] {
  return (db.query("SELECT path FROM base").values() as [string][]).map((row) => row[0]);
}

/** How many entries the base holds. */
export function baseCount(db: Database): number {
  return (db.query("SELECT COUNT(*) AS n FROM base").get() as { n: number }).n;
}

/** True when the base has an entry at `path`. */
export function baseHas(db: Database, path: string): boolean {
  return db.query("SELECT 1 FROM base WHERE path = $path").get({ path }) !== null;
}

/** True when the base has an entry beneath directory `dir` ("" is the top). */
export function baseHasBelow(db: Database, dir: string): boolean {
  if (dir === "") return db.query("SELECT 1 FROM base LIMIT 1").get() !== null;
  // Paths under dir sort between "dir/" and "dir0" ("0" follows "/" in every collation SQLite uses here).
  return db.query("SELECT 1 FROM base WHERE path > $lo AND path < $hi LIMIT 1").get({ lo: `${dir}/`, hi: `${dir}0` }) !== null;
}

/** Inserts or replaces base entries and removes `deleted` paths, in one transaction. */
export function updateBase(db: Database, upserts: Iterable<BaseEntry>, deleted: Iterable<string> = []): void {
  db.transaction(() => {
    const put = db.query(
      `INSERT INTO base (path, size, mtime_ns, ctime_ns, md5, mode, rev, checked_ns, link)
       VALUES ($path, $size, $mtimeNs, $ctimeNs, $md5, $mode, $rev, $checkedNs, $link)
       ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns,
         md5 = excluded.md5, mode = excluded.mode, rev = excluded.rev, checked_ns = excluded.checked_ns, link = excluded.link`,
    );
    for (const e of upserts)
      put.run({
        path: e.path,
        size: e.size,
        mtimeNs: e.mtimeNs,
        ctimeNs: e.ctimeNs,
        md5: e.md5,
        mode: e.mode,
        rev: e.rev,
        checkedNs: e.checkedNs,
        link: e.link ?? null,
      });
    const del = db.query("DELETE FROM base WHERE path = $path");
    for (const path of deleted) del.run({ path });
  })();
}

/** A value from the meta table, or undefined. */
export function getMeta(db: Database, key: string): string | undefined {
  const row = db.query("SELECT value FROM meta WHERE key = $key").get({ key }) as { value: string } | null;
  return row?.value;
}

/** The newest server revision this tree has seen: from its pulls, or made by its own pushes. */
export function knownRevision(db: Database): number {
  return Number(getMeta(db, KNOWN_REVISION) ?? "0");
}

/** Records that the server has reached revision `rev` (a pull saw it, a push made it); never lowers it. */
export function noteRevision(db: Database, rev: number): void {
  db.query(
    `INSERT INTO meta (key, value) VALUES ($key, $rev) ON CONFLICT (key) DO UPDATE SET value = excluded.value
     WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)`,
  ).run({ key: KNOWN_REVISION, rev: String(rev) });
}

const KNOWN_REVISION = "known_revision";
const BASE_GENERATION = "base_generation";

/** The meta key holding the id of the server database this tree syncs with. */
export const SERVER_DATABASE = "server_database";

/**
 * Re-attaches the tree to the server database `id` as if it had never synced: no base, no
 * agreed roots, revision 0. Local files then meet the server's as untracked ones (same bytes:
 * adopted; different: a conflict), and none counts as deleted.
 */
export function reattachState(db: Database, id: string): void {
  db.transaction(() => {
    db.run("DELETE FROM base");
    db.run("DELETE FROM roots_base");
    setMeta(db, "revision", "0");
    setMeta(db, KNOWN_REVISION, "0");
    setMeta(db, SERVER_DATABASE, id);
    clearWatchHint(db); // the base is gone: every file must be looked at again
  })();
}

/**
 * What a scan asking `soc watch` keeps for the next one (watched-scan.ts): the daemon's clock,
 * what was tracked, what the scan found, and the base's generation it found it against (null
 * when the base changed while it ran).
 */
export interface WatchHint {
  clock: { epoch: string; tick: number };
  tracking: string;
  generation: number | null;
  found: Findings;
}

const WATCH_HINT = "watch_hint";

export function readWatchHint(db: Database): WatchHint | undefined {
  const text = getMeta(db, WATCH_HINT);
  try {
    const hint = text === undefined ? undefined : (JSON.parse(text) as Partial<WatchHint>);
    return hint?.found ? (hint as WatchHint) : undefined; // one kept by an older soc is no use
  } catch {
    return undefined;
  }
}

export function writeWatchHint(db: Database, hint: WatchHint): void {
  setMeta(db, WATCH_HINT, JSON.stringify(hint));
}

export function clearWatchHint(db: Database): void {
  db.query("DELETE FROM meta WHERE key = $key").run({ key: WATCH_HINT });
}

/** Sets a value in the meta table. */
export function setMeta(db: Database, key: string, value: string): void {
  db.query("INSERT OR REPLACE INTO meta (key, value) VALUES ($key, $value)").run({ key, value });
}

/**
 * Writes back new stat fields for entries a scan found unchanged. Conditional on md5 and rev,
 * so a refresh computed before a concurrent push or pull never undoes what that run recorded.
 */
export function refreshBase(db: Database, entries: Iterable<BaseEntry>): void {
  db.transaction(() => {
    const update = db.query(
      `UPDATE base SET size = $size, mtime_ns = $mtimeNs, ctime_ns = $ctimeNs, checked_ns = $checkedNs
       WHERE path = $path AND md5 = $md5 AND rev = $rev`,
    );
    for (const e of entries) {
      update.run({ path: e.path, size: e.size, mtimeNs: e.mtimeNs, ctimeNs: e.ctimeNs, checkedNs: e.checkedNs, md5: e.md5, rev: e.rev });
    }
  })();
}

/**
 * A file whose mtime is this close to (or after) the scan that recorded it may have been
 * rewritten in the same timestamp tick without its stat changing ("racy clean", as in git).
 * Two seconds covers coarse kernel clocks and 1-2 s filesystem timestamp granularity.
 */
export const RACY_WINDOW_NS = 2_000_000_000n;

/**
 * True when `st` lets us trust that the file still holds the base's content without reading it:
 * size, mtime and ctime all equal, and the entry was recorded safely after that mtime.
 */
export function statIsTrusted(b: BaseEntry, st: { size: number; mtimeNs: bigint; ctimeNs: bigint }): boolean {
  return b.size === st.size && b.mtimeNs === st.mtimeNs && b.ctimeNs === st.ctimeNs && b.mtimeNs + RACY_WINDOW_NS <= b.checkedNs;
}

// ---------------------------------------------------------------------------

/** The columns of a whole base entry, in _BaseRow's order. */
const _ENTRY_COLUMNS = "path, size, mtime_ns, ctime_ns, md5, mode, rev, checked_ns, link";

/** A base row as SQLite returns it with safe integers: path, size, mtime, ctime, md5, mode, rev, checked, link. */
type _BaseRow = [string, bigint, bigint, bigint, string, bigint, bigint, bigint, string | null];

function _toEntry([path, size, mtimeNs, ctimeNs, md5, mode, rev, checkedNs, link]: _BaseRow): BaseEntry {
  const entry: BaseEntry = { path, size: Number(size), mtimeNs, ctimeNs, md5, mode: Number(mode), rev: Number(rev), checkedNs };
  if (link !== null) entry.link = link;
  return entry;
}
