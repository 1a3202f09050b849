import { describe, expect, test } from "bun:test";
import { BadInputError, ConflictError } from "../../../lib/shared/errors.ts";
import { checkChangeset } from "../../../lib/server/changeset-plan.ts";
import { changesSince, commitChangeset } from "../../../lib/server/table.ts";
import { changeset, commit } from "../../_harness/changesets.ts";
import { MD5_A, MD5_B, up } from "../../_harness/upserts.ts";
import { serverState } from "../../_harness/server-state.ts";

describe("commitChangeset", () => {
  test("conflicts list every path changed after its base, and change nothing", async () => {
    using state = serverState("soc-commit-");
    const { table } = state;
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
    using state = serverState("soc-commit-");
    const { table } = state;
    commit(table, { upserts: [up("a")] });
    commit(table, { upserts: [up("a", MD5_B, 1)] });
    // Another client built on revision 1 and made the very same change: no conflict, no new revision.
    expect(commit(table, { upserts: [up("a", MD5_B, 1)] })).toEqual({ revision: 2, stored: [], deleted: [] });
    // Same content but a new mode: stored again.
    expect(commit(table, { upserts: [up("a", MD5_B, 1, { mode: 0o755 })] })).toEqual({ revision: 3, stored: ["a"], deleted: [] });
  });

  test("deletes conflict with a newer live row, not with one already deleted", async () => {
    using state = serverState("soc-commit-");
    const { table } = state;
    commit(table, { upserts: [up("a"), up("b")] });
    commit(table, { upserts: [up("a", MD5_B, 1)], deletes: [{ path: "b", baseRev: 1 }] });
    expect(() => commit(table, { deletes: [{ path: "a", baseRev: 1 }] })).toThrow(ConflictError);
    expect(commit(table, { deletes: [{ path: "b", baseRev: 1 }] })).toEqual({ revision: 2, stored: [], deleted: [] });
    expect(commit(table, { deletes: [{ path: "a", baseRev: 2 }] })).toEqual({ revision: 3, stored: [], deleted: ["a"] });
  });

  test("modifying a file deleted on the server conflicts; re-adding it as new does not", async () => {
    using state = serverState("soc-commit-");
    const { table } = state;
    commit(table, { upserts: [up("a")] });
    commit(table, { deletes: [{ path: "a", baseRev: 1 }] });
    expect(() => commit(table, { upserts: [up("a", MD5_B, 1)] })).toThrow(ConflictError);
    expect(commit(table, { upserts: [up("a", MD5_B, 0)] })).toEqual({ revision: 3, stored: ["a"], deleted: [] });
    expect(table.db.query("SELECT added, modified FROM revisions WHERE rev = 3").get()).toEqual({ added: 1, modified: 0 });
  });

  test("a file may not land under a live file or over live files unless the commit deletes them", async () => {
    using state = serverState("soc-commit-");
    const { table } = state;
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
    using state = serverState("soc-commit-");
    const { table } = state;
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

  test("the journal entry naming the stage commits with the rows, and only when something changes", async () => {
    using state = serverState("soc-commit-");
    const { table } = state;
    const entries = () => table.db.query("SELECT rev, stage, versions FROM journal").all();
    const source = { stage: "ab".repeat(16) };
    commitChangeset(table, changeset({ upserts: [up("a")] }), { nowMs: 1, source });
    expect(entries()).toEqual([{ rev: 1, stage: source.stage, versions: null }]);
    table.db.query("DELETE FROM journal").run();
    commitChangeset(table, changeset({ upserts: [up("a")] }), { nowMs: 1, source });
    expect(() => commitChangeset(table, changeset({ upserts: [up("a", MD5_B)] }), { nowMs: 1, source })).toThrow(ConflictError);
    expect(entries()).toEqual([]);
  });

  test("a base revision newer than the server is refused", async () => {
    using state = serverState("soc-commit-");
    const { table } = state;
    expect(() => commit(table, { upserts: [up("a", MD5_A, 7)] })).toThrow(
      'base revision 7 of "a" is newer than the server\'s 0; was the server reset?',
    );
  });

  test("bad paths and duplicates are refused before anything is read", () => {
    const bad = ["../x", "/etc/passwd", "a/../../b", "a\0b", "a//b", ".soc/state.db", ""];
    for (const path of bad) {
      expect(() => checkChangeset(changeset({ upserts: [up(path)] }))).toThrow(BadInputError);
      expect(() => checkChangeset(changeset({ deletes: [{ path, baseRev: 0 }] }))).toThrow(BadInputError);
    }
    expect(() => checkChangeset(changeset({ upserts: [up("../x")] }))).toThrow('bad path "../x": contains ".."');
    expect(() => checkChangeset(changeset({ upserts: [up("a")], deletes: [{ path: "a", baseRev: 0 }] }))).toThrow(
      'path "a" appears twice in the changeset',
    );
    expect(() => checkChangeset(changeset({ upserts: [up("a"), up("a/b")] }))).toThrow('"a/b" is inside upserted file "a"');
    expect(() => checkChangeset(changeset({ roots: { set: [{ path: "/abs", kind: "dir" }], remove: [] } }))).toThrow(BadInputError);
  });
});
