import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openDb } from "../../../lib/shared/db.ts";
import { SocError } from "../../../lib/shared/errors.ts";
import { readLog } from "../../../lib/server/history.ts";
import { SERVER_MIGRATIONS } from "../../../lib/server/schema.ts";
import { changesSince, currentRevision, openTable, type Table } from "../../../lib/server/table.ts";
import { commit } from "../../_harness/changesets.ts";
import { MD5_A, MD5_B, up } from "../../_harness/upserts.ts";
import { tempDir } from "../../_harness/fs.ts";

const rows = (table: Table, sql: string) => table.db.query(sql).all();

describe("history rows", () => {
  test("every commit records its changes; replaced and deleted rows become versions", async () => {
    using dir = tempDir("soc-history-");
    using table = openTable(join(dir.path, "soc.db"));
    commit(table, { upserts: [up("a"), up("b")] });
    commit(table, { upserts: [up("a", MD5_B, 1)], deletes: [{ path: "b", baseRev: 1 }] }, { nowMs: 2000 });
    expect(rows(table, "SELECT path, rev, action, md5 FROM changes ORDER BY rev, path")).toEqual([
      { path: "a", rev: 1, action: "added", md5: MD5_A },
      { path: "b", rev: 1, action: "added", md5: MD5_A },
      { path: "a", rev: 2, action: "modified", md5: MD5_B },
      { path: "b", rev: 2, action: "deleted", md5: "" },
    ]);
    expect(rows(table, "SELECT path, rev, replaced_by, replaced_at_ms, md5 FROM versions ORDER BY path")).toEqual([
      { path: "a", rev: 1, replaced_by: 2, replaced_at_ms: 2000, md5: MD5_A },
      { path: "b", rev: 1, replaced_by: 2, replaced_at_ms: 2000, md5: MD5_A },
    ]);
    commit(table, { upserts: [up("a", MD5_A, 2)] }, { keepVersions: false });
    expect(rows(table, "SELECT COUNT(*) AS n FROM versions")).toEqual([{ n: 2 }]);
    expect(readLog(table, { path: "a" }).history?.map((h) => [h.rev, h.action, h.available])).toEqual([
      [3, "modified", true],
      [2, "modified", false],
      [1, "added", true],
    ]);
  });

  test("mass deletion: more than half of 10+ live files, or all of 2+, needs allowMassDelete", async () => {
    using dir = tempDir("soc-history-");
    using table = openTable(join(dir.path, "soc.db"));
    const del = (...paths: string[]) => paths.map((path) => ({ path, baseRev: currentRevision(table) }));
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    commit(table, { upserts: [up("only")] });
    expect(commit(table, { deletes: del("only") }).deleted).toEqual(["only"]); // one live file: not "mass"
    commit(table, { upserts: names("f", 9).map((p) => up(p)) });
    expect(commit(table, { deletes: del(...names("f", 8)) }).deleted).toHaveLength(8); // 8 of 9: under 10 live, not all
    commit(table, { upserts: names("g", 10).map((p) => up(p)) }); // 11 live
    const before = changesSince(table, 0);
    expect(() => commit(table, { deletes: del(...names("g", 6)) })).toThrow(
      new SocError(
        "mass_delete",
        "this push would delete 6 of the 11 files on the server (more than half); pass --allow-mass-delete if that is intended",
      ),
    );
    expect(changesSince(table, 0)).toEqual(before);
    expect(commit(table, { deletes: del(...names("g", 5)) }).deleted).toHaveLength(5); // 5 of 11
    const rest = ["f8", "g5", "g6", "g7", "g8", "g9"];
    expect(() => commit(table, { deletes: del(...rest) })).toThrow(
      "this push would delete all 6 files on the server; pass --allow-mass-delete if that is intended",
    );
    expect(commit(table, { deletes: del(...rest), allowMassDelete: true }).deleted).toEqual(rest);
  });

  test("a database made by the previous schema opens, upgrades in place and keeps its rows", async () => {
    using dir = tempDir("soc-history-");
    const file = join(dir.path, "soc.db");
    const old = openDb(file, SERVER_MIGRATIONS.slice(0, 1));
    old.exec(`INSERT INTO files VALUES ('a', 3, 5, '${MD5_A}', 420, 1, 0), ('gone', 0, 0, '', 420, 2, 1);
      INSERT INTO revisions VALUES (1, 1000, 'old', 2, 0, 0), (2, 2000, 'old', 0, 0, 1);`);
    old.close();

    using table = openTable(file);
    expect(table.db.query("PRAGMA user_version").get()).toEqual({ user_version: SERVER_MIGRATIONS.length });
    expect(changesSince(table, 0).files.map((f) => [f.path, f.rev, f.deleted])).toEqual([
      ["a", 1, false],
      ["gone", 2, true],
    ]);
    expect(readLog(table, { path: "gone" }).history?.map((h) => [h.rev, h.action])).toEqual([[2, "deleted"]]);
    commit(table, { upserts: [up("a", MD5_B, 2)] });
    expect(readLog(table, { path: "a" }).history?.map((h) => [h.rev, h.action, h.available])).toEqual([
      [3, "modified", true],
      [1, "added", true],
    ]);
  });
});
