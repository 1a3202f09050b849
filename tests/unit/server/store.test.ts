import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SocError } from "../../../lib/shared/errors.ts";
import { md5Bytes } from "../../../lib/shared/hash.ts";
import type { Upsert } from "../../../lib/shared/protocol.ts";
import { applyToStore, createStage, openStore, removeStage, resolveIn, stageDir, verifyStage, type Store } from "../../../lib/server/store.ts";
import { commitChangeset, openTable, type Changeset, type Table } from "../../../lib/server/table.ts";

interface Fixture extends AsyncDisposable {
  dir: string;
  store: Store;
  table: Table;
}

async function fixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), "soc-store-"));
  const store = openStore(join(dir, "store"), { stateDir: join(dir, "state") });
  const table = openTable(join(dir, "state", "soc.db"));
  return {
    dir,
    store,
    table,
    async [Symbol.asyncDispose]() {
      table.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Stages `files` in a new stage and commits them (plus `deletes`) through table and store. */
async function push(f: Fixture, files: Record<string, string>, deletes: string[] = [], baseRev = 0) {
  const stage = createStage(f.store);
  const upserts: Upsert[] = Object.entries(files).map(([path, content]) => {
    mkdirSync(dirname(join(stage.path, path)), { recursive: true });
    writeFileSync(join(stage.path, path), content);
    return { path, size: Buffer.byteLength(content), md5: md5Bytes(content), mode: 0o640, mtimeNs: "1", baseRev };
  });
  // allowMassDelete: these tests swap files for directories wholesale; the guard has its own tests.
  const change: Changeset = {
    client: "t",
    upserts,
    deletes: deletes.map((path) => ({ path, baseRev })),
    roots: { set: [], remove: [] },
    allowMassDelete: true,
  };
  await verifyStage(f.store, stage.id, upserts);
  const result = commitChangeset(f.table, change, { nowMs: 0, apply: (plan) => applyToStore(f.store, stage.id, plan) });
  removeStage(f.store, stage.id);
  return result;
}

/** Every file under `root` as path → content, for whole-tree assertions. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const abs = join(entry.parentPath, entry.name);
    out[abs.slice(root.length + 1)] = entry.isDirectory() ? "<dir>" : readFileSync(abs, "utf8");
  }
  return out;
}

describe("store", () => {
  test("stages are fresh hex-named directories under the state dir, swept after a day", async () => {
    await using f = await fixture();
    const old = createStage(f.store);
    expect(old.id).toMatch(/^[0-9a-f]{32}$/);
    expect(old.path).toBe(join(f.dir, "state", "stage", old.id));
    expect(stageDir(f.store, old.id)).toBe(old.path);
    const dayAgo = new Date(Date.now() - 25 * 3600 * 1000);
    utimesSync(old.path, dayAgo, dayAgo);
    const recent = createStage(f.store);
    expect(existsSync(old.path)).toBe(false);
    expect(existsSync(recent.path)).toBe(true);
    expect(() => stageDir(f.store, old.id)).toThrow("unknown stage");
    expect(() => stageDir(f.store, "../../store")).toThrow("unknown stage");
  });

  test("a commit moves staged files into the store, with their mode and mtime", async () => {
    await using f = await fixture();
    const stage = createStage(f.store);
    mkdirSync(join(stage.path, "docs"));
    writeFileSync(join(stage.path, "docs/a.txt"), "hello");
    utimesSync(join(stage.path, "docs/a.txt"), 1_600_000_000, 1_600_000_000);
    applyToStore(f.store, stage.id, { deletes: [], stores: [{ path: "docs/a.txt", mode: 0o4755 }] });
    const st = statSync(join(f.store.root, "docs/a.txt"));
    expect(readFileSync(join(f.store.root, "docs/a.txt"), "utf8")).toBe("hello");
    expect(st.mode & 0o7777).toBe(0o755);
    expect(st.mtimeMs).toBe(1_600_000_000_000);
    expect(existsSync(join(stage.path, "docs/a.txt"))).toBe(false);
  });

  test("deletes prune directories they leave empty, never the store root", async () => {
    await using f = await fixture();
    await push(f, { "a/b/c.txt": "1", "a/keep.txt": "2", "top.txt": "3" });
    await push(f, {}, ["a/b/c.txt", "top.txt"], 1);
    expect(tree(f.store.root)).toEqual({ a: "<dir>", "a/keep.txt": "2" });
    await push(f, {}, ["a/keep.txt"], 1);
    expect(tree(f.store.root)).toEqual({});
    expect(lstatSync(f.store.root).isDirectory()).toBe(true);
  });

  test("a file becomes a directory, and a directory a file, in one commit each", async () => {
    await using f = await fixture();
    await push(f, { x: "file", "d/one": "1", "d/sub/two": "2" });
    expect(resolveIn(f.store.root, "x/deeper/still")).toBe(join(f.store.root, "x/deeper/still"));
    expect(await push(f, { "x/inside": "now a dir", d: "now a file" }, ["x", "d/one", "d/sub/two"], 1)).toEqual({
      revision: 2,
      stored: ["x/inside", "d"],
      deleted: ["x", "d/one", "d/sub/two"],
    });
    expect(tree(f.store.root)).toEqual({ x: "<dir>", "x/inside": "now a dir", d: "now a file" });
  });

  test("verifyStage names every staged file that is missing, the wrong size or content, or not a file", async () => {
    await using f = await fixture();
    const stage = createStage(f.store);
    writeFileSync(join(stage.path, "short"), "ab");
    writeFileSync(join(stage.path, "changed"), "xyz");
    symlinkSync("/etc/passwd", join(stage.path, "link"));
    const want = (path: string, content: string) => ({ path, size: content.length, md5: md5Bytes(content) });
    const error = await verifyStage(f.store, stage.id, [want("short", "abc"), want("changed", "abc"), want("link", "x"), want("missing", "x")]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SocError);
    expect((error as SocError).code).toBe("stage_mismatch");
    expect((error as SocError).details).toEqual({ paths: ["short", "changed", "link", "missing"] });
    expect((error as SocError).message).toBe(
      'staged files do not match the changeset: "short" has 2 bytes, expected 3; "changed" has a different md5; "link" is not a regular file; "missing" is missing',
    );
    await verifyStage(f.store, stage.id, [want("changed", "xyz")]);
  });

  test("paths that escape the store or the stage are refused", async () => {
    await using f = await fixture();
    for (const path of ["../x", "/etc/passwd", "a/../../b", "a\0b", ""]) {
      expect(() => resolveIn(f.store.root, path)).toThrow(/bad path/);
    }
    expect(resolveIn(f.store.root, "a/b")).toBe(join(f.store.root, "a/b"));
  });

  test("a symlink inside the store or a stage is never followed", async () => {
    await using f = await fixture();
    const outside = join(f.dir, "outside");
    mkdirSync(outside);
    symlinkSync(outside, join(f.store.root, "link"));
    expect(() => resolveIn(f.store.root, "link/x")).toThrow(`refusing "link/x": ${join(f.store.root, "link")} is a symlink`);
    const stage = createStage(f.store);
    symlinkSync(outside, join(stage.path, "via"));
    writeFileSync(join(outside, "secret"), "s");
    await expect(verifyStage(f.store, stage.id, [{ path: "via/secret", size: 1, md5: md5Bytes("s") }])).rejects.toThrow("is a symlink");
    expect(() => applyToStore(f.store, stage.id, { deletes: ["link/x"], stores: [] })).toThrow("is a symlink");
    expect(tree(outside)).toEqual({ secret: "s" });
  });
});
