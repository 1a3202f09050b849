import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes } from "../../../lib/shared/hash.ts";
import { createStage, removeStage, verifyStage } from "../../../lib/server/stage.ts";
import { runJournal } from "../../../lib/server/journal.ts";
import { deleteFromStore, displacedRoot, resolveIn, writeToStore } from "../../../lib/server/store.ts";
import { commitChangeset } from "../../../lib/server/table.ts";
import { changeset } from "../../_harness/changesets.ts";
import { upsertOf } from "../../_harness/upserts.ts";
import { treeWithDirs, writeFile } from "../../_harness/fs.ts";
import { serverState, type ServerState } from "../../_harness/server-state.ts";

/** Stages `files` in a new stage and commits them (plus `deletes`) through table and store. */
async function push(f: ServerState, files: Record<string, string>, deletes: string[] = [], baseRev = 0) {
  const stage = createStage(f.store);
  const upserts = Object.entries(files).map(([path, content]) => {
    writeFile(stage.path, path, content);
    return upsertOf(path, content, baseRev, { mode: 0o640, mtimeNs: "1" });
  });
  // allowMassDelete: these tests swap files for directories wholesale; the guard has its own tests.
  const change = changeset({ client: "t", upserts, deletes: deletes.map((path) => ({ path, baseRev })), allowMassDelete: true });
  await verifyStage(f.store, stage.id, upserts);
  const result = commitChangeset(f.table, change, { nowMs: 0, source: { stage: stage.id } });
  await runJournal({ table: f.port, store: f.store });
  removeStage(f.store, stage.id);
  return result;
}

describe("store", () => {
  test("a commit moves staged files into the store, with their mode and mtime", async () => {
    using f = serverState("soc-store-");
    const stage = createStage(f.store);
    writeFile(stage.path, "docs/a.txt", "hello");
    utimesSync(join(stage.path, "docs/a.txt"), 1_600_000_000, 1_600_000_000);
    const from = join(stage.path, "docs/a.txt");
    expect(writeToStore(f.store, { path: "docs/a.txt", mode: 0o4755, from, move: true }, 1)).toEqual([]);
    const st = statSync(join(f.store.root, "docs/a.txt"));
    expect(readFileSync(join(f.store.root, "docs/a.txt"), "utf8")).toBe("hello");
    expect(st.mode & 0o7777).toBe(0o755);
    expect(st.mtimeMs).toBe(1_600_000_000_000);
    expect(existsSync(join(stage.path, "docs/a.txt"))).toBe(false);
  });

  test("deletes prune directories they leave empty, never the store root", async () => {
    using f = serverState("soc-store-");
    await push(f, { "a/b/c.txt": "1", "a/keep.txt": "2", "top.txt": "3" });
    await push(f, {}, ["a/b/c.txt", "top.txt"], 1);
    expect(treeWithDirs(f.store.root)).toEqual({ a: "<dir>", "a/keep.txt": "2" });
    await push(f, {}, ["a/keep.txt"], 1);
    expect(treeWithDirs(f.store.root)).toEqual({});
    expect(lstatSync(f.store.root).isDirectory()).toBe(true);
  });

  test("a file becomes a directory, and a directory a file, in one commit each", async () => {
    using f = serverState("soc-store-");
    await push(f, { x: "file", "d/one": "1", "d/sub/two": "2" });
    expect(resolveIn(f.store.root, "x/deeper/still")).toBe(join(f.store.root, "x/deeper/still"));
    expect(await push(f, { "x/inside": "now a dir", d: "now a file" }, ["x", "d/one", "d/sub/two"], 1)).toEqual({
      revision: 2,
      stored: ["x/inside", "d"],
      deleted: ["x", "d/one", "d/sub/two"],
    });
    expect(treeWithDirs(f.store.root)).toEqual({ x: "<dir>", "x/inside": "now a dir", d: "now a file" });
  });

  test("paths that escape the store or the stage are refused", async () => {
    using f = serverState("soc-store-");
    for (const path of ["../x", "/etc/passwd", "a/../../b", "a\0b", ""]) {
      expect(() => resolveIn(f.store.root, path)).toThrow(/bad path/);
    }
    expect(resolveIn(f.store.root, "a/b")).toBe(join(f.store.root, "a/b"));
  });

  test("a symlink inside the store or a stage is never followed", async () => {
    using f = serverState("soc-store-");
    const outside = join(f.dir, "outside");
    mkdirSync(outside);
    symlinkSync(outside, join(f.store.root, "link"));
    expect(() => resolveIn(f.store.root, "link/x")).toThrow(`refusing "link/x": ${join(f.store.root, "link")} is a symlink`);
    const stage = createStage(f.store);
    symlinkSync(outside, join(stage.path, "via"));
    writeFileSync(join(outside, "secret"), "s");
    await expect(verifyStage(f.store, stage.id, [{ path: "via/secret", size: 1, md5: md5Bytes("s") }])).rejects.toThrow("is a symlink");
    writeFileSync(join(outside, "x"), "x");
    deleteFromStore(f.store, "link/x");
    expect(treeWithDirs(outside)).toEqual({ secret: "s", x: "x" });
  });

  test("a write moves what stands in its way and the table does not name aside, never deleting it", async () => {
    using f = serverState("soc-store-");
    writeFile(f.store.root, "a/stray.txt", "someone put this here");
    writeFile(f.store.root, "b", "a file where a directory belongs");
    const stage = createStage(f.store);
    writeFile(stage.path, "a", "new a");
    writeFile(stage.path, "b/c", "new c");
    const write = (path: string) => writeToStore(f.store, { path, mode: 0o644, from: join(stage.path, path), move: true }, 7);
    expect(write("a")).toEqual(["a"]);
    expect(write("b/c")).toEqual(["b"]);
    expect(treeWithDirs(f.store.root)).toEqual({ a: "new a", b: "<dir>", "b/c": "new c" });
    expect(treeWithDirs(displacedRoot(f.store, 7))).toEqual({
      a: "<dir>",
      "a/stray.txt": "someone put this here",
      b: "a file where a directory belongs",
    });
    // Done again (a replay): the staged files are gone, so nothing changes.
    expect([write("a"), write("b/c")]).toEqual([[], []]);
    expect(treeWithDirs(f.store.root)).toEqual({ a: "new a", b: "<dir>", "b/c": "new c" });
  });
});
