import { expect, test } from "bun:test";
import { governingRule, isTracked, normalizeRules, setRule, walkStarts, type RootRule } from "../../../lib/client/roots.ts";

test("a directory rule tracks everything beneath it; a file rule only itself", () => {
  const rules: RootRule[] = [
    { path: "docs", kind: "dir" },
    { path: "notes.txt", kind: "file" },
  ];
  expect(isTracked(rules, "docs/a/b.md")).toBe(true);
  expect(isTracked(rules, "notes.txt")).toBe(true);
  expect(isTracked(rules, "notes.txt/x")).toBe(false);
  expect(isTracked(rules, "docsx")).toBe(false);
  expect(governingRule(rules, "docs/a")).toEqual({ path: "docs", kind: "dir" });
});

test("removing a path inside a tracked directory records an exclude; re-adding lifts it", () => {
  let rules = setRule([], "docs", "dir", true);
  rules = setRule(rules, "docs/private", "exclude", true);
  expect(rules).toEqual([
    { path: "docs", kind: "dir" },
    { path: "docs/private", kind: "exclude" },
  ]);
  expect(isTracked(rules, "docs/private/key")).toBe(false);
  expect(isTracked(rules, "docs/public")).toBe(true);
  rules = setRule(rules, "docs/private/ok.txt", "file", false);
  expect(isTracked(rules, "docs/private/ok.txt")).toBe(true);
  expect(walkStarts(rules).map((r) => r.path)).toEqual(["docs", "docs/private/ok.txt"]);
  rules = setRule(rules, "docs", "dir", true);
  expect(rules).toEqual([{ path: "docs", kind: "dir" }]);
});

test("normalizing drops rules that change nothing", () => {
  expect(
    normalizeRules([
      { path: "a/b", kind: "dir" },
      { path: "a", kind: "dir" },
      { path: "a/c.txt", kind: "file" },
      { path: "x", kind: "exclude" },
    ]),
  ).toEqual([{ path: "a", kind: "dir" }]);
  expect(setRule([{ path: "a", kind: "dir" }], "a", "exclude", true)).toEqual([]);
});

test("the top itself can be a tracked directory", () => {
  const rules = setRule([], "", "dir", true);
  expect(isTracked(rules, "anything/here")).toBe(true);
  expect(walkStarts(rules)).toEqual([{ path: "", kind: "dir" }]);
});
