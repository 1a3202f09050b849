import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { openDb } from "../../../lib/shared/db.ts";
import {
  getMeta,
  knownRevision,
  noteRevision,
  openState,
  readBase,
  readRoots,
  refreshBase,
  setMeta,
  updateBase,
  writeRoots,
  type BaseEntry,
} from "../../../lib/client/state.ts";
import { tempDir } from "../../_harness/fs.ts";

const entry: BaseEntry = {
  path: "a/é b",
  size: 3,
  mtimeNs: 1_732_400_000_123_456_789n,
  ctimeNs: 1_732_400_000_987_654_321n,
  md5: "900150983cd24fb0d6963f7d28e17f72",
  mode: 0o644,
  rev: 7,
  checkedNs: 1_732_400_001_000_000_000n,
};

test("a new state database is in WAL mode at the latest schema version", () => {
  using dir = tempDir();
  const file = join(dir.path, "state.db");
  openState(file).close();
  using db = new Database(file);
  expect(db.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
  expect(db.query("PRAGMA user_version").get()).toEqual({ user_version: 4 });
});

test("a database from a newer soc is refused, not downgraded", () => {
  using dir = tempDir();
  const file = join(dir.path, "state.db");
  new Database(file).exec("PRAGMA user_version = 99");
  expect(() => openDb(file, ["CREATE TABLE x (a)"])).toThrow(`${file} has schema version 99, newer than this soc understands (1); upgrade soc`);
});

test("base entries keep nanosecond timestamps exactly", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  updateBase(db, [entry]);
  expect(readBase(db).get(entry.path)).toEqual(entry);
  updateBase(db, [], [entry.path]);
  expect(readBase(db).size).toBe(0);
});

test("a symlink's base entry keeps its target; a file replacing it has none", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  const link: BaseEntry = { ...entry, size: 9, md5: "0f4d3d8a3c9bd1d1f1a1e0e7e3f5b0a1", mode: 0o777, link: "../é/tgt" };
  updateBase(db, [link]);
  expect(readBase(db).get(entry.path)).toEqual(link);
  updateBase(db, [entry]);
  expect(readBase(db).get(entry.path)).toEqual(entry);
});

test("a refresh never overwrites an entry a concurrent run has moved to new content", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  updateBase(db, [entry]);
  const stale = { ...entry, mtimeNs: 1n, checkedNs: 2n };
  updateBase(db, [{ ...entry, md5: "0".repeat(32), rev: 8 }]);
  refreshBase(db, [stale]);
  expect(readBase(db).get(entry.path)).toEqual({ ...entry, md5: "0".repeat(32), rev: 8 });
  updateBase(db, [entry]);
  refreshBase(db, [stale]);
  expect(readBase(db).get(entry.path)).toEqual(stale);
});

test("roots and meta round-trip", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  writeRoots(db, [
    { path: "docs", kind: "dir" },
    { path: "docs/tmp", kind: "exclude" },
  ]);
  expect(readRoots(db)).toEqual([
    { path: "docs", kind: "dir" },
    { path: "docs/tmp", kind: "exclude" },
  ]);
  expect(readRoots(db, "roots_base")).toEqual([]);
  expect(getMeta(db, "revision")).toBeUndefined();
  setMeta(db, "revision", "3");
  expect(getMeta(db, "revision")).toBe("3");
});

test("the newest revision a tree has seen only rises, and a tree from before it was kept starts from its base and last pull", () => {
  using dir = tempDir();
  const file = join(dir.path, "state.db");
  {
    using db = openState(file);
    expect(knownRevision(db)).toBe(0);
    noteRevision(db, 12);
    noteRevision(db, 9);
    expect(knownRevision(db)).toBe(12);
  }
  // A database at schema version 1: revisions only in its base and its pull floor.
  const old = join(dir.path, "old.db");
  {
    using db = new Database(old);
    db.exec(`CREATE TABLE roots (path TEXT PRIMARY KEY, kind TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE roots_base (path TEXT PRIMARY KEY, kind TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE base (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
        md5 TEXT NOT NULL, mode INTEGER NOT NULL, rev INTEGER NOT NULL, checked_ns INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO meta (key, value) VALUES ('revision', '4');
      PRAGMA user_version = 1;`);
    db.query("INSERT INTO base VALUES ('a', 1, 1, 1, 'x', 420, 7, 1)").run();
  }
  using db = openState(old);
  expect(knownRevision(db)).toBe(7);
});
