import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CHANGES_SQL, changesSince, currentRevision, openTable, readRow, type Table } from "../../../lib/server/table.ts";
import { commit } from "../../_harness/changesets.ts";
import { MD5_A, MD5_B, up } from "../../_harness/upserts.ts";
import { tempDir } from "../../_harness/fs.ts";

/** A table whose database is one directory down in a fresh temp dir (openTable creates it); `await using` closes it and removes the dir. */
async function tempTable(): Promise<Table & AsyncDisposable> {
  using stack = new DisposableStack();
  const dir = stack.use(tempDir("soc-table-"));
  const table = openTable(join(dir.path, "db", "soc.db"));
  const owned = stack.move();
  return Object.assign(table, {
    async [Symbol.asyncDispose]() {
      table.close();
      owned.dispose();
    },
  });
}

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
    expect(changesSince(table, 0).files.map((f) => f.path)).toEqual(["dir/b.txt", "a.txt"]);
    expect(changesSince(table, 2)).toEqual({ revision: 2, files: [], roots: [] });
    const revisions = table.db.query("SELECT rev, at_ms, client, added, modified, deleted FROM revisions ORDER BY rev").all();
    expect(revisions).toEqual([
      { rev: 1, at_ms: 1000, client: "laptop", added: 2, modified: 0, deleted: 0 },
      { rev: 2, at_ms: 1000, client: "laptop", added: 0, modified: 1, deleted: 0 },
    ]);
  });

  test("changesSince reads one range of the files_rev index, first page or following: no scan, no sort", async () => {
    await using table = await tempTable();
    const plan = (sql: string) =>
      (table.db.query(`EXPLAIN QUERY PLAN ${sql}`).all({ since: 0, rev: 0, path: "", limit: 1 }) as { detail: string }[]).map((r) => r.detail);
    expect(plan(CHANGES_SQL.first)).toEqual(["SEARCH files USING INDEX files_rev (rev>?)"]);
    expect(plan(CHANGES_SQL.after)).toEqual(["SEARCH files USING INDEX files_rev ((rev,path)>(?,?))"]);
  });

  test("a page cursor at or before `since` is ignored: the page starts after `since`", async () => {
    await using table = await tempTable();
    commit(table, { upserts: [up("a.txt"), up("b.txt")] });
    commit(table, { upserts: [up("c.txt"), up("d.txt")] });
    const after1 = changesSince(table, 1);
    expect(after1.files.map((f) => f.path)).toEqual(["c.txt", "d.txt"]);
    expect(changesSince(table, 1, { afterRev: 1, afterPath: "zzz" })).toEqual(after1);
    expect(changesSince(table, 1, { afterRev: 0 })).toEqual(after1);
    expect(changesSince(table, 0, { afterRev: 2, afterPath: "c.txt" }).files.map((f) => f.path)).toEqual(["d.txt"]);
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
});
