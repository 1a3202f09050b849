import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Table } from "../../../lib/server/table.ts";
import { createSweeper, keepVersion, sweepVersions, versionFile, versionsRoot } from "../../../lib/server/versions.ts";
import { writeFile } from "../../_harness/fs.ts";
import { serverState } from "../../_harness/server-state.ts";

const DAY = 24 * 60 * 60 * 1000;

function addVersion(table: Table, path: string, rev: number, replacedAtMs: number): void {
  table.db
    .query(`INSERT INTO versions (path, rev, replaced_by, replaced_at_ms, size, md5, mode, mtime_ns) VALUES ($path, $rev, $by, $at, 1, '', 420, 0)`)
    .run({ path, rev, by: rev + 1, at: replacedAtMs });
}

describe("versions area", () => {
  test("keepVersion hard-links a store file under versions/<rev>/, once; the store is untouched", async () => {
    using f = serverState("soc-versions-");
    writeFile(f.store.root, "d/a.txt", "old");
    keepVersion(f.store, { path: "d/a.txt", rev: 3 });
    keepVersion(f.store, { path: "missing", rev: 3 });
    const kept = versionFile(f.store, "d/a.txt", 3);
    expect(kept).toBe(join(f.store.stateDir, "versions", "3", "d", "a.txt"));
    expect(readFileSync(kept, "utf8")).toBe("old");
    expect(statSync(kept).ino).toBe(statSync(join(f.store.root, "d/a.txt")).ino);
    expect(existsSync(versionFile(f.store, "missing", 3))).toBe(false);
    // Done again (a journal replay, the store file already replaced): the kept version stays.
    writeFile(f.dir, "new", "new");
    renameSync(join(f.dir, "new"), join(f.store.root, "d/a.txt")); // store files are only ever replaced by rename
    keepVersion(f.store, { path: "d/a.txt", rev: 3 });
    expect(readFileSync(kept, "utf8")).toBe("old");
    expect(readdirSync(join(versionsRoot(f.store), "3", "d"))).toEqual(["a.txt"]);
  });

  test("sweepVersions drops rows and files replaced more than keepDays ago, pruning emptied directories", async () => {
    using f = serverState("soc-versions-");
    const now = 100 * DAY;
    for (const [path, rev, at] of [
      ["d/old", 1, now - 31 * DAY],
      ["d/young", 2, now - 29 * DAY],
      ["x/old", 2, now - 40 * DAY],
    ] as const) {
      writeFile(join(versionsRoot(f.store), String(rev)), path, path);
      addVersion(f.table, path, rev, at);
    }
    expect(await sweepVersions(f.port, f.store, { nowMs: now, keepDays: 30 })).toBe(2);
    expect(f.table.db.query("SELECT path, rev FROM versions").all()).toEqual([{ path: "d/young", rev: 2 }]);
    expect(readdirSync(versionsRoot(f.store), { recursive: true }).sort()).toEqual(["2", "2/d", "2/d/young"]);
    expect(await sweepVersions(f.port, f.store, { nowMs: now, keepDays: 0 })).toBe(1);
    expect(readdirSync(versionsRoot(f.store))).toEqual([]);
  });

  test("createSweeper sweeps at most once an hour of its clock", async () => {
    using f = serverState("soc-versions-");
    let clock = 100 * DAY;
    const sweep = createSweeper(f.port, f.store, { keepDays: 1, now: () => clock });
    addVersion(f.table, "a", 1, clock - 2 * DAY);
    expect(await sweep()).toBe(1);
    addVersion(f.table, "b", 1, clock - 2 * DAY);
    clock += 59 * 60 * 1000;
    expect(await sweep()).toBe(0);
    clock += 60 * 1000;
    expect(await sweep()).toBe(1);
  });
});
