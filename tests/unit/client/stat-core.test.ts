import { expect, test } from "bun:test";
import { lstatSync, symlinkSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { loadIgnore } from "../../../lib/client/ignore.ts";
import type { RootRule } from "../../../lib/client/roots.ts";
import { startStat, statCore, STAT_FIELDS } from "../../../lib/client/stat-core.ts";
import { walkTracked, type FileStat } from "../../../lib/client/walk.ts";
import { baseIndexOf } from "../../../lib/client/base-index.ts";
import type { BaseEntry } from "../../../lib/client/state.ts";
import { tempDir, writeFile } from "../../_harness/fs.ts";

// scan.test.ts runs the walk and the diff with each core; these pin the cores to each other and to lstat.

function walk(top: string): FileStat[] {
  return walkTracked(top, [{ path: "t", kind: "dir" }], loadIgnore(top), () => {}).sort((a, b) => (a.path < b.path ? -1 : 1));
}

function withCore<T>(core: string, fn: () => T): T {
  const was = process.env.SOC_STAT_CORE;
  process.env.SOC_STAT_CORE = core;
  try {
    return fn();
  } finally {
    if (was === undefined) delete process.env.SOC_STAT_CORE;
    else process.env.SOC_STAT_CORE = was;
  }
}

test("the C stat core builds and runs here (otherwise only the fallback would be tested)", () => {
  expect(process.env.SOC_STAT_CORE).toBeUndefined();
  expect(statCore()).toBe("c");
});

test("the C core and the JS fallback see the same files and the same exact stat, threads and worker included", () => {
  using dir = tempDir();
  // Enough files for several C threads and the fallback's helper worker; times before 1970 and with nanoseconds.
  for (let i = 0; i < 5000; i++) writeFile(dir.path, `t/d${i % 7}/f${i}`, "x".repeat(i % 13));
  utimesSync(join(dir.path, "t/d1/f1"), new Date(-1500), new Date(-1500));
  expect(Bun.spawnSync(["touch", "-d", "2023-11-14 22:13:20.123456789 UTC", join(dir.path, "t/d2/f2")]).exitCode).toBe(0);
  const walkWith = (core: string) => withCore(core, () => walk(dir.path));
  const c = walkWith("c");
  expect(c.length).toBe(5000);
  expect(walkWith("js")).toEqual(c);
  for (const f of [c.find((x) => x.path === "t/d1/f1"), c.find((x) => x.path === "t/d2/f2")]) {
    const st = lstatSync(join(dir.path, (f as FileStat).path), { bigint: true });
    expect([f?.mtimeNs, f?.ctimeNs, f?.size, f?.mode]).toEqual([st.mtimeNs, st.ctimeNs, Number(st.size), Number(st.mode) & 0o7777]);
  }
  expect(c.find((x) => x.path === "t/d1/f1")?.mtimeNs).toBe(-1_500_000_000n);
  expect(c.find((x) => x.path === "t/d2/f2")?.mtimeNs).toBe(1_700_000_000_123_456_789n);
});

test("the C core's results survive garbage collection between start and wait (it works on its own copies)", () => {
  using dir = tempDir();
  const rels = Array.from({ length: 3000 }, (_, i) => `d${i % 5}/file-${i}`);
  for (const [i, rel] of rels.entries()) writeFile(dir.path, rel, "y".repeat(i % 17));
  for (let round = 0; round < 3; round++) {
    const job = withCore("c", () => startStat(dir.path, rels));
    const junk: unknown[] = [];
    for (let i = 0; i < 200_000; i++) junk.push(new Uint8Array(16).fill(i & 255), `junk ${i}`);
    Bun.gc(true);
    const out = job.wait().stats;
    const sizes = rels.map((_, i) => out[i * STAT_FIELDS]);
    expect(sizes).toEqual(rels.map((rel) => lstatSync(join(dir.path, rel)).size));
  }
});

test("a path that cannot be lstat-ed gets a negative mode from either core", () => {
  using dir = tempDir();
  writeFile(dir.path, "here", "x");
  for (const core of ["c", "js"]) {
    const out = withCore(core, () => startStat(dir.path, ["here", "gone", "here/below"]).wait().stats);
    expect([out[5] as number, out[STAT_FIELDS + 5] as number, out[2 * STAT_FIELDS + 5] as number].map((m) => m < 0)).toEqual([false, true, true]);
  }
});

test("the C core matches walked paths to a base block as the JS index does: unicode, prefixes, absent, duplicates none", () => {
  using dir = tempDir();
  const names = ["a", "a/b", "ab", "é NFC", "e\u0301 NFD", "𝄞 clef", "new\nline", "z"];
  for (const n of names) if (n !== "a") writeFile(dir.path, n.replace("a/b", "sub/a-b"), n);
  const walked = ["ab", "é NFC", "e\u0301 NFD", "𝄞 clef", "new\nline", "z", "only-walked"];
  const base = baseIndexOf(new Map(["z", "𝄞 clef", "a", "é NFC", "ab", "only-base", "e\u0301 NFD", "new\nline"].map((p) => [p, entry(p)])));
  const viaC = withCore("c", () => startStat(dir.path, walked).wait(base).match);
  expect(viaC).toBeDefined();
  expect([...(viaC as Int32Array)]).toEqual([...base.match(walked)]);
  expect([...base.match(walked)].map((j) => (j < 0 ? null : base.pathAt(j)))).toEqual([...walked.slice(0, -1), null]);
  // A block that does not hold as many paths as it claims is refused, never half-matched.
  expect(
    withCore("c", () => startStat(dir.path, walked).wait({ pathBlock: base.pathBlock.subarray(0, 5), count: base.count }).match),
  ).toBeUndefined();
});

function entry(path: string): BaseEntry {
  return { path, size: 1, mtimeNs: 1n, ctimeNs: 1n, md5: "0".repeat(32), mode: 0o644, rev: 1, checkedNs: 3_000_000_000n };
}

test("the C tree walk takes what the JS walk takes: excluded rules, roots inside them, .soc, conflict copies, file roots, links, depth", () => {
  using dir = tempDir();
  const files = [
    "t/a.txt",
    "t/x/skip/no.txt",
    "t/x/skip/back/yes.txt",
    "t/.soc/never",
    "t/sub/.soc/never",
    "t/notes.conflict-host-20240101-120000",
    "t/keep.conflict-host-2024",
    "t/olddir.conflict-host-20240101-120000/inside",
    "t/é NFC/𝄞",
    `t/${"deep/".repeat(100)}bottom`,
    "single.txt",
    "untracked/x",
  ];
  for (const f of files) writeFile(dir.path, f, f);
  symlinkSync("a.txt", join(dir.path, "t/link"));
  symlinkSync("t/a.txt", join(dir.path, "linkroot"));
  const rules: RootRule[] = [
    { path: "t", kind: "dir" },
    { path: "t/x/skip", kind: "exclude" },
    { path: "t/x/skip/back", kind: "dir" },
    { path: "single.txt", kind: "file" },
    { path: "linkroot", kind: "file" },
  ];
  const run = (core: string) =>
    withCore(core, () => {
      const warnings: string[] = [];
      const found = walkTracked(dir.path, rules, loadIgnore(dir.path), (m) => warnings.push(m));
      return { paths: found.map((f) => f.path).sort(), warnings: warnings.sort() };
    });
  const c = run("c");
  expect(c).toEqual(run("js"));
  expect(c.paths).toEqual(
    [
      "linkroot",
      "single.txt",
      "t/a.txt",
      "t/keep.conflict-host-2024",
      "t/link",
      "t/x/skip/back/yes.txt",
      "t/é NFC/𝄞",
      `t/${"deep/".repeat(100)}bottom`,
    ].sort(),
  );
  expect(c.warnings).toEqual([]);
});
