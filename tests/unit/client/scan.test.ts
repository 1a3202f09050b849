import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes } from "../../../lib/shared/hash.ts";
import { loadIgnore } from "../../../lib/client/ignore.ts";
import type { RootRule } from "../../../lib/client/roots.ts";
import { diffAgainstBase, rulesForPaths } from "../../../lib/client/scan.ts";
import { isWithin } from "../../../lib/shared/paths.ts";
import { startWalk, walkTracked, type FileStat } from "../../../lib/client/walk.ts";
import { baseIndexOf } from "../../../lib/client/base-index.ts";
import { RACY_WINDOW_NS } from "../../../lib/client/state.ts";
import type { BaseEntry } from "../../../lib/client/state.ts";
import { tempDir, writeFile } from "../../_harness/fs.ts";

const ALL: RootRule[] = [{ path: "t", kind: "dir" }];
const HOUR_AGO = new Date(Date.now() - 3600_000);

/** writeFile, then sets the file's mtime (an hour ago by default: outside the racy window). */
function write(top: string, rel: string, content: string, mtime: Date = HOUR_AGO): void {
  writeFile(top, rel, content);
  utimesSync(join(top, rel), mtime, mtime);
}

function walk(top: string, rules = ALL, warnings: string[] = []): FileStat[] {
  return walkTracked(top, rules, loadIgnore(top), (m) => warnings.push(m)).sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** diffAgainstBase over a fresh walk of `top`, matched to the base as scanRepo does (by the C core when it runs). */
function diff(top: string, base: Map<string, BaseEntry>, opts: { hashChanged?: boolean; allFiles?: boolean } = {}) {
  const index = baseIndexOf(base);
  const walked = startWalk(top, ALL, loadIgnore(top), () => {}).finish(index, { everyFile: opts.allFiles });
  expect(walked.match !== undefined).toBe(process.env.SOC_STAT_CORE === "c");
  return diffAgainstBase(top, walked, index, { rules: ALL, ...opts });
}

/** diffAgainstBase over a walk of `only` against the base entries within them, as scanRepo does with `only`; tracked counts the rest. */
async function partialDiff(top: string, base: Map<string, BaseEntry>, only: string[], rules = ALL) {
  const index = baseIndexOf(new Map([...base].filter(([path]) => only.some((p) => isWithin(path, p)))));
  const walked = startWalk(top, rulesForPaths(top, rules, only), loadIgnore(top), () => {}).finish(index);
  const d = await diffAgainstBase(top, walked, index, { rules, hashChanged: true });
  return { ...d, tracked: base.size - index.count + d.tracked };
}

/** What a dirty set says, comparable: sorted paths of each kind, and the tracked count. */
function summary(d: Awaited<ReturnType<typeof diffAgainstBase>>) {
  const paths = (xs: { path: string }[]) => xs.map((x) => x.path).sort();
  return { added: paths(d.added), modified: paths(d.modified), deleted: paths(d.deleted), unreadable: paths(d.unreadable), tracked: d.tracked };
}

/** A base as a push would record it: current stat, real md5, checked now. */
function baseOf(top: string, files: FileStat[], checkedNs = BigInt(Date.now()) * 1_000_000n): Map<string, BaseEntry> {
  const base = new Map<string, BaseEntry>();
  for (const f of files) {
    base.set(f.path, { ...f, md5: md5Bytes(readFileSync(join(top, f.path))), rev: 1, checkedNs });
  }
  return base;
}

for (const core of ["c", "js"]) {
  describe(`with the ${core} stat core`, () => {
    beforeAll(() => {
      process.env.SOC_STAT_CORE = core;
    });
    afterAll(() => {
      delete process.env.SOC_STAT_CORE;
    });

    describe("walkTracked", () => {
      test("lists tracked regular files, skips ignored ones and .soc/", () => {
        using dir = tempDir();
        write(dir.path, "t/a.txt", "a");
        write(dir.path, "t/sub/b.txt", "b");
        write(dir.path, "t/app.log", "noise");
        write(dir.path, "t/build/out.bin", "noise");
        write(dir.path, "t/.soc/x", "never");
        write(dir.path, "other.txt", "untracked");
        writeFileSync(join(dir.path, ".socignore"), "*.log\nbuild/\n");
        expect(walk(dir.path).map((f) => f.path)).toEqual(["t/a.txt", "t/sub/b.txt"]);
      });

      test("takes a symlink as an entry of its own, never following it; warns once per special file", () => {
        using dir = tempDir();
        write(dir.path, "t/a.txt", "a");
        mkdirSync(join(dir.path, "elsewhere"));
        write(dir.path, "elsewhere/secret", "s");
        symlinkSync(join(dir.path, "elsewhere"), join(dir.path, "t/linkdir"));
        symlinkSync("a.txt", join(dir.path, "t/link.txt"));
        expect(Bun.spawnSync(["mkfifo", join(dir.path, "t/fifo")]).exitCode).toBe(0);
        const warnings: string[] = [];
        const found = walk(dir.path, ALL, warnings);
        expect(found.map((f) => [f.path, f.symlink === true, f.size])).toEqual([
          ["t/a.txt", false, 1],
          ["t/link.txt", true, "a.txt".length],
          ["t/linkdir", true, join(dir.path, "elsewhere").length],
        ]);
        expect(warnings).toEqual(['skipping special file "t/fifo" (not followed, not tracked)']);
      });

      test("keeps names byte-exact: spaces, quotes, newline, leading dash, unicode, 255 bytes, deep", () => {
        using dir = tempDir();
        const names = [
          "t/with space",
          't/"quoted"',
          "t/new\nline",
          "t/-e sh",
          "t/e\u0301 NFD",
          "t/é NFC",
          `t/${"n".repeat(255)}`,
          `t/${"deep/".repeat(40)}f`,
        ];
        for (const n of names) write(dir.path, n, n);
        expect(
          walk(dir.path)
            .map((f) => f.path)
            .sort(),
        ).toEqual([...names].sort());
      });
    });

    describe("diffAgainstBase", () => {
      test("everything is added before there is a base, and nothing is hashed", async () => {
        using dir = tempDir();
        write(dir.path, "t/a", "a");
        const d = await diff(dir.path, new Map());
        expect(d.added.map((f) => f.path)).toEqual(["t/a"]);
        expect(d.hashed).toBe(0);
      });

      test("a touch without content change is clean; the refreshed stat makes the next scan hash nothing", async () => {
        using dir = tempDir();
        write(dir.path, "t/a", "same");
        const base = baseOf(dir.path, walk(dir.path));
        const later = new Date(Date.now() - 1800_000);
        utimesSync(join(dir.path, "t/a"), later, later);
        const first = await diff(dir.path, base);
        expect([first.added, first.modified, first.deleted, first.hashed]).toEqual([[], [], [], 1]);
        expect(first.refreshed.map((e) => e.path)).toEqual(["t/a"]);
        for (const e of first.refreshed) base.set(e.path, e);
        const second = await diff(dir.path, base);
        expect([second.modified, second.hashed, second.refreshed]).toEqual([[], 0, []]);
      });

      test("a same-size edit inside the racy window is found even when the stat looks unchanged", async () => {
        using dir = tempDir();
        write(dir.path, "t/a", "1111", new Date());
        const files = walk(dir.path);
        // The base was recorded in the same tick as the file's mtime, with content that has since changed.
        const base = baseOf(dir.path, files, (files[0] as FileStat).mtimeNs);
        base.set("t/a", { ...(base.get("t/a") as BaseEntry), md5: md5Bytes("2222") });
        const d = await diff(dir.path, base);
        expect(d.modified.map((f) => f.path)).toEqual(["t/a"]);
        expect(d.hashed).toBe(1);
      });

      test("an entry checked safely after its mtime is trusted without hashing", async () => {
        using dir = tempDir();
        write(dir.path, "t/a", "1111");
        const files = walk(dir.path);
        const base = baseOf(dir.path, files, (files[0] as FileStat).mtimeNs + RACY_WINDOW_NS + 1n);
        const d = await diff(dir.path, base);
        expect([d.modified, d.hashed]).toEqual([[], 0]);
      });

      test("edits, deletions, new files, and a file replaced by a directory", async () => {
        using dir = tempDir();
        write(dir.path, "t/edit", "old");
        write(dir.path, "t/gone", "x");
        write(dir.path, "t/becomes-dir", "x");
        const base = baseOf(dir.path, walk(dir.path));
        write(dir.path, "t/edit", "new content");
        rmSync(join(dir.path, "t/gone"));
        rmSync(join(dir.path, "t/becomes-dir"));
        write(dir.path, "t/becomes-dir/inner", "y");
        write(dir.path, "t/new", "z");
        const d = await diff(dir.path, base, { hashChanged: true });
        expect(d.added.map((f) => [f.path, f.md5]).sort()).toEqual([
          ["t/becomes-dir/inner", md5Bytes("y")],
          ["t/new", md5Bytes("z")],
        ]);
        expect(d.modified.map((f) => [f.path, f.md5])).toEqual([["t/edit", md5Bytes("new content")]]);
        expect(d.deleted.map((e) => e.path).sort()).toEqual(["t/becomes-dir", "t/gone"]);
      });

      test("without hashChanged (status), a file whose size moved is modified unread; one with the same size is read", async () => {
        using dir = tempDir();
        write(dir.path, "t/grown", "old");
        write(dir.path, "t/same-size", "abc");
        write(dir.path, "t/touched", "same");
        const base = baseOf(dir.path, walk(dir.path));
        write(dir.path, "t/grown", "old and more");
        write(dir.path, "t/same-size", "xyz");
        write(dir.path, "t/touched", "same", new Date(Date.now() - 60_000));
        const d = await diff(dir.path, base);
        expect(d.modified.map((f) => [f.path, f.md5]).sort()).toEqual([
          ["t/grown", undefined],
          ["t/same-size", md5Bytes("xyz")],
        ]);
        expect([d.hashed, d.refreshed.map((e) => e.path)]).toEqual([2, ["t/touched"]]);
      });

      test("a scan of some paths only finds what a whole scan finds there, and counts the rest as tracked", async () => {
        using dir = tempDir();
        for (let i = 0; i < 30; i++) write(dir.path, `t/d${i % 3}/f${i}`, `file ${i}`);
        write(dir.path, "t/gone/x", "x");
        write(dir.path, "t/gone/y", "y");
        const base = baseOf(dir.path, walk(dir.path));
        write(dir.path, "t/d0/f0", "edited");
        write(dir.path, "t/d1/f1", "edited too", new Date(Date.now() - 60_000));
        rmSync(join(dir.path, "t/d2/f2"));
        rmSync(join(dir.path, "t/gone"), { recursive: true }); // a directory moved away: one event, for the directory
        write(dir.path, "t/new/deep/n", "new");
        write(dir.path, "t/d0/f3", "changed, but no event names it"); // out of scope: left for a whole scan
        const only = ["t/d0/f0", "t/d1/f1", "t/d2/f2", "t/gone", "t/new"];
        const whole = summary(await diff(dir.path, base, { hashChanged: true }));
        expect(summary(await partialDiff(dir.path, base, only))).toEqual({ ...whole, modified: ["t/d0/f0", "t/d1/f1"] });
        expect(whole.modified).toEqual(["t/d0/f0", "t/d0/f3", "t/d1/f1"]);
        expect([whole.deleted, whole.added, whole.tracked]).toEqual([["t/d2/f2", "t/gone/x", "t/gone/y"], ["t/new/deep/n"], 30]);
      });

      test("a scan of some paths only: an untracked directory holding a tracked root, an excluded path, nothing at all", async () => {
        using dir = tempDir();
        write(dir.path, "top/in/a", "a");
        write(dir.path, "top/skip/b", "b");
        const rules: RootRule[] = [
          { path: "top/in", kind: "dir" },
          { path: "top/skip", kind: "exclude" },
        ];
        const index = new Map<string, BaseEntry>();
        const walked = walkTracked(dir.path, rules, loadIgnore(dir.path), () => {});
        for (const [k, v] of baseOf(dir.path, walked)) index.set(k, v);
        write(dir.path, "top/in/a", "edited");
        write(dir.path, "top/skip/b", "edited, excluded");
        expect(summary(await partialDiff(dir.path, index, ["top"], rules))).toEqual({
          added: [],
          modified: ["top/in/a"],
          deleted: [],
          unreadable: [],
          tracked: 1,
        });
        expect(summary(await partialDiff(dir.path, index, ["top/skip/b"], rules))).toEqual({
          added: [],
          modified: [],
          deleted: [],
          unreadable: [],
          tracked: 1,
        });
        expect(summary(await partialDiff(dir.path, index, [], rules))).toEqual({ added: [], modified: [], deleted: [], unreadable: [], tracked: 1 });
      });

      test("every file, clean or not, with its md5 when a push asks for them all (--force)", async () => {
        using dir = tempDir();
        write(dir.path, "t/a", "a");
        write(dir.path, "t/b", "b");
        const base = baseOf(dir.path, walk(dir.path));
        write(dir.path, "t/c", "c");
        const d = await diff(dir.path, base, { allFiles: true, hashChanged: true });
        expect(d.files?.map((f) => [f.path, f.md5]).sort()).toEqual([
          ["t/a", md5Bytes("a")],
          ["t/b", md5Bytes("b")],
          ["t/c", md5Bytes("c")],
        ]);
        expect([d.hashed, d.tracked]).toEqual([1, 3]);
      });

      test("a file already in the base stays tracked when a later pattern ignores it", async () => {
        using dir = tempDir();
        write(dir.path, "t/keep.log", "x");
        const base = baseOf(dir.path, walk(dir.path));
        writeFileSync(join(dir.path, ".socignore"), "*.log\n");
        const d = await diff(dir.path, base);
        expect([d.added, d.modified, d.deleted, d.tracked]).toEqual([[], [], [], 1]);
        const all = await diff(dir.path, base, { allFiles: true });
        expect(all.files?.map((f) => [f.path, f.md5])).toEqual([["t/keep.log", md5Bytes("x")]]);
        expect(statSync(join(dir.path, "t/keep.log")).size).toBe(1);
      });
    });
  });
}
