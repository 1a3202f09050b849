import { describe, expect, test } from "bun:test";
import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applyPull } from "../../../lib/client/pull-apply.ts";
import { planPull } from "../../../lib/client/pull-plan.ts";
import type { BaseEntry } from "../../../lib/client/state.ts";
import { md5Bytes } from "../../../lib/shared/hash.ts";
import type { FileRow } from "../../../lib/shared/protocol.ts";
import { tempDir, writeFile } from "../../_harness/fs.ts";

/** A tree whose `files` are clean against their base (rev 1), and a stage holding `next` as the server's rev 2, which also deletes `gone`. */
function pulling(root: string, files: Record<string, string>, next: Record<string, string>, gone: string[] = []) {
  const [top, staged] = [join(root, "top"), join(root, "staged")];
  const base = new Map<string, BaseEntry>();
  for (const [path, content] of Object.entries(files)) {
    writeFile(top, path, content);
    const st = lstatSync(join(top, path), { bigint: true });
    base.set(path, {
      path,
      size: content.length,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      md5: md5Bytes(content),
      mode: 0o644,
      rev: 1,
      checkedNs: 0n,
    });
  }
  const rows: FileRow[] = Object.entries(next).map(([path, content]) => {
    writeFile(staged, path, content);
    return { path, size: content.length, md5: md5Bytes(content), mode: 0o644, mtimeNs: "1", rev: 2, deleted: false };
  });
  for (const path of gone) rows.push({ path, size: 0, md5: "", mode: 0o644, mtimeNs: "0", rev: 2, deleted: true });
  return { top, staged, plan: planPull(top, rows, base, false) };
}

describe("applyPull", () => {
  test("each file is checked just before its own replace: an edit saved while an earlier file is placed wins", () => {
    using dir = tempDir();
    const { top, staged, plan } = pulling(dir.path, { "d/a": "a0", "d/b": "b0" }, { "d/a": "a1", "d/b": "b1" });
    expect(plan.take.map((r) => r.path)).toEqual(["d/a", "d/b"]);
    const edit = "b, saved by an editor during the pull";
    const applied = applyPull(top, staged, plan, { onPath: (path) => void (path === "d/b" || writeFile(top, "d/b", edit)) });
    expect([readFileSync(join(top, "d/a"), "utf8"), readFileSync(join(top, "d/b"), "utf8")]).toEqual(["a1", edit]);
    expect([plan.take.map((r) => r.path), plan.conflicts.map((r) => r.path), applied.put.map((e) => e.path)]).toEqual([["d/a"], ["d/b"], ["d/a"]]);
  });

  test("a file new to the tree never replaces one that appeared after the plan looked", () => {
    using dir = tempDir();
    const { top, staged, plan } = pulling(dir.path, {}, { "d/new": "from the server" });
    applyPull(top, staged, plan, { onPath: () => writeFile(top, "d/new", "made here just now") });
    expect(readFileSync(join(top, "d/new"), "utf8")).toBe("made here just now");
    expect(plan.conflicts.map((r) => r.path)).toEqual(["d/new"]);
  });

  test("a directory where the server now has a file goes once the same pull's deletions empty it; one still holding a file of ours stays, a conflict", () => {
    using dir = tempDir();
    const { top, staged, plan } = pulling(dir.path, { "d/x/old": "o", "d/y/old": "o" }, { "d/x": "now a file", "d/y": "now a file too" }, [
      "d/x/old",
      "d/y/old",
    ]);
    writeFile(top, "d/y/mine", "untracked, made here");
    expect([plan.take.map((r) => r.path), plan.seen.get("d/x")]).toEqual([["d/x", "d/y"], "absent"]);
    const applied = applyPull(top, staged, plan);
    expect(readFileSync(join(top, "d/x"), "utf8")).toBe("now a file");
    expect(readFileSync(join(top, "d/y/mine"), "utf8")).toBe("untracked, made here");
    expect([plan.take.map((r) => r.path), plan.conflicts.map((r) => r.path)]).toEqual([["d/x"], ["d/y"]]);
    expect([applied.put.map((e) => e.path), applied.forget.sort()]).toEqual([["d/x"], ["d/x/old", "d/y/old"]]);
  });
});
