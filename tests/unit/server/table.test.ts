import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BadInputError, ConflictError } from "../../../lib/shared/errors.ts";
import type { Upsert } from "../../../lib/shared/protocol.ts";
import {
  changesSince,
  checkChangeset,
  commitChangeset,
  currentRevision,
  openTable,
  readRow,
  type Changeset,
  type Table,
} from "../../../lib/server/table.ts";

const MD5_A = "a".repeat(32);
const MD5_B = "b".repeat(32);

async function tempTable(): Promise<Table & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), "soc-table-"));
  const table = openTable(join(dir, "db", "soc.db"));
  return Object.assign(table, {
    async [Symbol.asyncDispose]() {
      table.close();
      await rm(dir, { recursive: true, force: true });
    },
  });
}

function up(path: string, md5 = MD5_A, baseRev = 0, extra: Partial<Upsert> = {}): Upsert {
  return { path, size: 3, md5, mode: 0o644, mtimeNs: "1700000000123456789", baseRev, ...extra };
}

function change(over: Partial<Changeset>): Changeset {
  return { client: "laptop", upserts: [], deletes: [], roots: { set: [], remove: [] }, ...over };
}

const commit = (table: Table, c: Partial<Changeset>) => commitChangeset(table, change(c), { nowMs: 1000 });

describe("table", () => {
  test("a fresh table is at revision 0 with nothing in it", async () => {
    await using table = await tempTable();
    expect(currentRevision(table)).toBe(0);
    expect(changesSince(table, 0)).toEqual({ revision: 0, files: [], roots: [] });
  });

  test("commits make revisions; changesSince returns rows after a revision", async () => {
    await using table = await tempTable();
    expect(commit(table, { upserts: [up("a.txt"), up("dir/b.txt")] })).toEqual({ revision: 1, stored: ["a.txt", "dir/b.txt"], deleted: [] });
    expect(commit(table, { upserts: [up("a.txt", MD5_B, 1)] })).toEqual({ revision: 2, stored: ["a.txt"], deleted: [] });
    expect(changesSince(table, 1).files.map((f) => [f.path, f.rev])).toEqual([["a.txt", 2]]);
    expect(changesSince(table, 0).files.map((f) => f.path)).toEqual(["a.txt", "dir/b.txt"]);
    expect(changesSince(table, 2)).toEqual({ revision: 2, files: [], roots: [] });
    const revisions = table.db.query("SELECT rev, at_ms, client, added, modified, deleted FROM revisions ORDER BY rev").all();
    expect(revisions).toEqual([
      { rev: 1, at_ms: 1000, client: "laptop", added: 2, modified: 0, deleted: 0 },
      { rev: 2, at_ms: 1000, client: "laptop", added: 0, modified: 1, deleted: 0 },
    ]);
  });

  test("a delete leaves a tombstone that incremental changes include", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a.txt"), up("b.txt")] });
    expect(commit(table, { deletes: [{ path: "a.txt", baseRev: 1 }] })).toEqual({ revision: 2, stored: [], deleted: ["a.txt"] });
    expect(changesSince(table, 1).files).toEqual([{ path: "a.txt", size: 0, md5: "", mode: 0o644, mtimeNs: "0", rev: 2, deleted: true }]);
    expect(table.db.query("SELECT deleted FROM revisions WHERE rev = 2").get()).toEqual({ deleted: 1 });
    // Deleting what is already gone changes nothing and makes no revision.
    expect(
      commit(table, {
        deletes: [
          { path: "a.txt", baseRev: 1 },
          { path: "never", baseRev: 0 },
        ],
      }),
    ).toEqual({ revision: 2, stored: [], deleted: [] });
  });

  test("mtime_ns round-trips exactly, up to the 64-bit limit", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a", MD5_A, 0, { mtimeNs: "1732400000123456789" }), up("b", MD5_A, 0, { mtimeNs: "9223372036854775807" })] });
    expect(readRow(table, "a")?.mtimeNs).toBe("1732400000123456789");
    expect(readRow(table, "b")?.mtimeNs).toBe("9223372036854775807");
    expect(() => commit(table, { upserts: [up("c", MD5_A, 0, { mtimeNs: "9223372036854775808" })] })).toThrow('mtimeNs of "c" is out of range');
  });

  test("conflicts list every path changed after its base, and change nothing", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a"), up("b"), up("c")] });
    commit(table, { upserts: [up("a", MD5_B, 1), up("b", MD5_B, 1)] });
    const before = changesSince(table, 0);
    let caught: unknown;
    try {
      commit(table, { upserts: [up("a", MD5_A, 1), up("new")], deletes: [{ path: "b", baseRev: 1 }] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConflictError);
    expect((caught as ConflictError).paths).toEqual(["a", "b"]);
    expect((caught as ConflictError).message).toBe('changed on the server since your base: "a", "b"; pull first');
    expect(changesSince(table, 0)).toEqual(before);
  });

  test("identical content is no conflict; identical metadata too is a no-op", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a")] });
    commit(table, { upserts: [up("a", MD5_B, 1)] });
    // Another client built on revision 1 and made the very same change: no conflict, no new revision.
    expect(commit(table, { upserts: [up("a", MD5_B, 1)] })).toEqual({ revision: 2, stored: [], deleted: [] });
    // Same content but a new mode: stored again.
    expect(commit(table, { upserts: [up("a", MD5_B, 1, { mode: 0o755 })] })).toEqual({ revision: 3, stored: ["a"], deleted: [] });
  });

  test("deletes conflict with a newer live row, not with one already deleted", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a"), up("b")] });
    commit(table, { upserts: [up("a", MD5_B, 1)], deletes: [{ path: "b", baseRev: 1 }] });
    expect(() => commit(table, { deletes: [{ path: "a", baseRev: 1 }] })).toThrow(ConflictError);
    expect(commit(table, { deletes: [{ path: "b", baseRev: 1 }] })).toEqual({ revision: 2, stored: [], deleted: [] });
    expect(commit(table, { deletes: [{ path: "a", baseRev: 2 }] })).toEqual({ revision: 3, stored: [], deleted: ["a"] });
  });

  test("modifying a file deleted on the server conflicts; re-adding it as new does not", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a")] });
    commit(table, { deletes: [{ path: "a", baseRev: 1 }] });
    expect(() => commit(table, { upserts: [up("a", MD5_B, 1)] })).toThrow(ConflictError);
    expect(commit(table, { upserts: [up("a", MD5_B, 0)] })).toEqual({ revision: 3, stored: ["a"], deleted: [] });
    expect(table.db.query("SELECT added, modified FROM revisions WHERE rev = 3").get()).toEqual({ added: 1, modified: 0 });
  });

  test("a file may not land under a live file or over live files unless the commit deletes them", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a"), up("d/x"), up("d/y")] });
    expect(() => commit(table, { upserts: [up("a/b")] })).toThrow('changed on the server since your base: "a/b"');
    expect(() => commit(table, { upserts: [up("d")], deletes: [{ path: "d/x", baseRev: 1 }] })).toThrow(ConflictError);
    expect(commit(table, { upserts: [up("a/b")], deletes: [{ path: "a", baseRev: 1 }] }).revision).toBe(2);
    const swap = commit(table, {
      upserts: [up("d")],
      deletes: [
        { path: "d/x", baseRev: 1 },
        { path: "d/y", baseRev: 1 },
      ],
    });
    expect(swap).toEqual({ revision: 3, stored: ["d"], deleted: ["d/x", "d/y"] });
  });

  test("root rules travel with commits; unchanged rules make no revision", async () => {
    await using table = await tempTable();
    const roots = {
      set: [
        { path: "", kind: "dir" as const },
        { path: "tmp", kind: "exclude" as const },
      ],
      remove: [],
    };
    expect(commit(table, { roots }).revision).toBe(1);
    expect(commit(table, { roots }).revision).toBe(1);
    expect(commit(table, { roots: { set: [], remove: ["tmp", "nothing"] } }).revision).toBe(2);
    expect(changesSince(table, 2)).toEqual({ revision: 2, files: [], roots: [{ path: "", kind: "dir" }] });
  });

  test("a throwing apply rolls the whole commit back", async () => {
    await using table = await tempTable();
    const apply = () => {
      throw new Error("disk full");
    };
    expect(() => commitChangeset(table, change({ upserts: [up("a")] }), { nowMs: 1, apply })).toThrow("disk full");
    expect(changesSince(table, 0)).toEqual({ revision: 0, files: [], roots: [] });
  });

  test("a base revision newer than the server is refused", async () => {
    await using table = await tempTable();
    expect(() => commit(table, { upserts: [up("a", MD5_A, 7)] })).toThrow(
      'base revision 7 of "a" is newer than the server\'s 0; was the server reset?',
    );
  });

  test("bad paths and duplicates are refused before anything is read", () => {
    const bad = ["../x", "/etc/passwd", "a/../../b", "a\0b", "a//b", ".soc/state.db", ""];
    for (const path of bad) {
      expect(() => checkChangeset(change({ upserts: [up(path)] }))).toThrow(BadInputError);
      expect(() => checkChangeset(change({ deletes: [{ path, baseRev: 0 }] }))).toThrow(BadInputError);
    }
    expect(() => checkChangeset(change({ upserts: [up("../x")] }))).toThrow('bad path "../x": contains ".."');
    expect(() => checkChangeset(change({ upserts: [up("a")], deletes: [{ path: "a", baseRev: 0 }] }))).toThrow(
      'path "a" appears twice in the changeset',
    );
    expect(() => checkChangeset(change({ upserts: [up("a"), up("a/b")] }))).toThrow('"a/b" is inside upserted file "a"');
    expect(() => checkChangeset(change({ roots: { set: [{ path: "/abs", kind: "dir" }], remove: [] } }))).toThrow(BadInputError);
  });
});
