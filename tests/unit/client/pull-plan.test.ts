import { expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes } from "../../../lib/shared/hash.ts";
import type { FileRow } from "../../../lib/shared/protocol.ts";
import { conflictName, planPull } from "../../../lib/client/pull-plan.ts";
import type { BaseEntry } from "../../../lib/client/state.ts";
import { tempDir } from "../../_harness/fs.ts";

const row = (path: string, content: string | null, rev = 5): FileRow => ({
  path,
  size: content?.length ?? 0,
  md5: content === null ? "" : md5Bytes(content),
  mode: 0o644,
  mtimeNs: "1",
  rev,
  deleted: content === null,
});
/** A base entry whose stat never matches, so the file on disk is hashed and compared. */
const entry = (path: string, content: string, rev = 1): BaseEntry => ({
  path,
  size: -1,
  mtimeNs: 1n,
  ctimeNs: 1n,
  md5: md5Bytes(content),
  mode: 0o644,
  rev,
  checkedNs: 1n,
});
const names = (rows: FileRow[]) => rows.map((r) => r.path);

test("clean or absent paths take the server's version, a directory once the pull's deletions took it away; local edits and new files in the way are conflicts", () => {
  using dir = tempDir();
  const files = { clean: "old", edited: "mine", untracked: "mine", "same-new": "theirs", seen: "x" };
  for (const [p, c] of Object.entries(files)) writeFileSync(join(dir.path, p), c);
  mkdirSync(join(dir.path, "blocked"));
  const base = new Map([
    ["clean", entry("clean", "old")],
    ["edited", entry("edited", "old")],
    ["seen", entry("seen", "x", 9)],
  ]);
  const rows = [
    row("clean", "new"),
    row("edited", "new"),
    row("absent", "new"),
    row("untracked", "new"),
    row("same-new", "theirs"),
    row("blocked", "new"),
    row("seen", "x", 9),
  ];
  const plan = planPull(dir.path, rows, base, false);
  expect([names(plan.take), names(plan.adopt), names(plan.conflicts), plan.seen.get("blocked")]).toEqual([
    ["clean", "absent", "blocked"],
    ["same-new"],
    ["edited", "untracked"],
    "absent", // applyPull takes it only if the directory is gone by then
  ]);

  const both = planPull(dir.path, rows, base, true);
  expect([names(both.take), both.keepBoth, names(both.conflicts)]).toEqual([
    ["clean", "edited", "absent", "untracked", "blocked"],
    ["edited", "untracked"],
    [],
  ]);
});

test("server deletions remove clean files, forget absent ones, and never touch edits", () => {
  using dir = tempDir();
  writeFileSync(join(dir.path, "clean"), "c");
  writeFileSync(join(dir.path, "edited"), "changed");
  const base = new Map([
    ["clean", entry("clean", "c")],
    ["edited", entry("edited", "e")],
    ["gone", entry("gone", "g")],
  ]);
  const plan = planPull(dir.path, [row("clean", null), row("edited", null), row("gone", null)], base, false);
  expect([names(plan.remove), names(plan.forget), names(plan.conflicts)]).toEqual([["clean"], ["gone"], ["edited"]]);
});

test("conflict copies are named NAME.conflict-HOST-YYYYMMDD-HHMMSS.EXT", () => {
  const at = new Date(2026, 10, 23, 9, 5, 7);
  expect(conflictName("d/report.final.txt", "lap top", at)).toBe("d/report.final.conflict-lap_top-20261123-090507.txt");
  expect(conflictName("Makefile", "h", at)).toBe("Makefile.conflict-h-20261123-090507");
});

test("a symlink row meets a symlink by its target and never a file by its bytes; a link is never chmod-ed", () => {
  using dir = tempDir();
  symlinkSync("t", join(dir.path, "same-link"));
  symlinkSync("old", join(dir.path, "clean-link"));
  symlinkSync("mine", join(dir.path, "edited-link"));
  writeFileSync(join(dir.path, "file-with-target-text"), "t");
  const link = (path: string, target: string, rev = 5): FileRow => ({ ...row(path, target, rev), mode: 0o777, link: target });
  const base = new Map([
    ["clean-link", { ...entry("clean-link", "old"), link: "old" }],
    ["edited-link", { ...entry("edited-link", "old"), link: "old" }],
    ["file-with-target-text", entry("file-with-target-text", "t")],
  ]);
  const rows = [
    { ...link("same-link", "t"), mode: 0o755 },
    link("clean-link", "new"),
    link("edited-link", "new"),
    link("file-with-target-text", "t"),
  ];
  const plan = planPull(dir.path, rows, base, false);
  expect([names(plan.take), names(plan.adopt), names(plan.chmod), names(plan.conflicts)]).toEqual([
    ["clean-link", "file-with-target-text"],
    ["same-link"],
    [],
    ["edited-link"],
  ]);
});
