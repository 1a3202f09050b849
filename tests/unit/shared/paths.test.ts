import { describe, expect, test } from "bun:test";
import { checkRepoPath, comparePaths, isWithin, quotePath, toRepoPath } from "../../../lib/shared/paths.ts";

describe("checkRepoPath", () => {
  test("accepts ordinary and odd relative names", () => {
    for (const p of ["a", "a/b.txt", "-e sh", "with space/x", "new\nline", "é/日本", "a".repeat(255), ".socignore", "x/.soc2", "soc/.so"]) {
      expect(checkRepoPath(p)).toBe(p);
    }
  });

  test.each([
    ["", "empty"],
    ["/etc/passwd", "absolute"],
    ["../x", 'contains ".."'],
    ["a/../../b", 'contains ".."'],
    ["a/./b", 'contains "."'],
    ["a//b", "empty segment (// or trailing /)"],
    ["a/", "empty segment (// or trailing /)"],
    ["a\0b", "contains NUL"],
    [".soc/state.db", 'contains ".soc", which holds soc\'s own state'],
    ["sub/.soc/config.json", 'contains ".soc", which holds soc\'s own state'],
    ["a/b/.soc", 'contains ".soc", which holds soc\'s own state'],
  ])("rejects %j: %s", (path, why) => {
    expect(() => checkRepoPath(path)).toThrow(`bad path ${JSON.stringify(path)}: ${why}`);
  });

  test("bounds names and paths in bytes, not characters", () => {
    expect(() => checkRepoPath("x".repeat(256))).toThrow("a name longer than 255 bytes");
    expect(() => checkRepoPath(`${"d/".repeat(2100)}f`)).toThrow("longer than 4096 bytes");
    expect(() => checkRepoPath("é".repeat(128))).toThrow("a name longer than 255 bytes");
    expect(checkRepoPath("é".repeat(127))).toBe("é".repeat(127));
  });
});

describe("toRepoPath", () => {
  test("resolves relative to cwd and returns /-separated paths", () => {
    expect(toRepoPath("/w", "/w/sub", "x/y")).toBe("sub/x/y");
    expect(toRepoPath("/w", "/w/sub", "..")).toBe("");
    expect(toRepoPath("/w", "/w", "./-e sh")).toBe("-e sh");
  });

  test("refuses paths outside the tree and inside .soc/", () => {
    expect(() => toRepoPath("/w", "/w", "../x")).toThrow("../x: outside the working tree /w");
    expect(() => toRepoPath("/w", "/w", "/etc")).toThrow("/etc: outside the working tree /w");
    expect(() => toRepoPath("/w", "/w", ".soc/x")).toThrow(".soc/x: .soc/ holds soc's own state and is never tracked");
    expect(() => toRepoPath("/w", "/w/sub", ".soc/config.json")).toThrow(".soc/config.json: .soc/ holds soc's own state and is never tracked");
  });
});

test("isWithin", () => {
  expect(isWithin("a/b", "a")).toBe(true);
  expect(isWithin("a", "a")).toBe(true);
  expect(isWithin("ab", "a")).toBe(false);
  expect(isWithin("x", "")).toBe(true);
});

test("comparePaths orders by code point (bytewise UTF-8), not UTF-16 units", () => {
  const paths = ["b", "a/b", "a-b", "\u{1F600}", "\uFF5E", "A", "é"];
  const bytewise = [...paths].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  expect([...paths].sort(comparePaths)).toEqual(bytewise);
  expect(bytewise).toEqual(["A", "a-b", "a/b", "b", "é", "\uFF5E", "\u{1F600}"]);
});

test("quotePath quotes only what would break a line-oriented reader", () => {
  expect(quotePath("plain name.txt")).toBe("plain name.txt");
  expect(quotePath("日本")).toBe("日本");
  expect(quotePath("a\nb")).toBe('"a\\nb"');
  expect(quotePath('say "hi"')).toBe('"say \\"hi\\""');
  expect(quotePath("tab\there\x01")).toBe('"tab\\there\\001"');
});
