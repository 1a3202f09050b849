import { describe, expect, test } from "bun:test";
import { readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { cli, cliJson, runCli } from "../_harness/cli.ts";
import { tempDir, writeFile } from "../_harness/fs.ts";

function status(cwd: string): Promise<{ added: string[]; modified: string[]; deleted: string[] }> {
  return cliJson(cwd, ["status"]);
}

describe("outside a working tree", () => {
  for (const args of [["status"], ["add", "x"], ["rm", "x"], ["status", "--json"], ["push"], ["pull"]]) {
    test(`soc ${args.join(" ")} exits 2 naming soc init`, async () => {
      using dir = tempDir();
      const res = await runCli(dir.path, args);
      expect(res.stdout).toBe("");
      expect(res.stderr).toBe(`error: not a soc working tree (no .soc/ here or in any parent of ${dir.path}); run \`soc init\` first\n`);
      expect(res.code).toBe(2);
    });
  }
});

describe("init, add, rm, status", () => {
  test("init creates .soc/ with its database; commands work from subdirectories", async () => {
    using dir = tempDir();
    expect((await cli(dir.path, ["init"])).stdout).toBe(`Initialized soc working tree in ${dir.path}/.soc\n`);
    expect(readdirSync(join(dir.path, ".soc")).sort()).toContain("state.db");
    writeFile(dir.path, "docs/a.md");
    writeFile(dir.path, "docs/deep/b.md");
    const res = await cli(join(dir.path, "docs"), ["add", "-r", "."]);
    expect(res.stdout).toBe("tracking 2 files (2 newly tracked)\n");
    expect(await status(join(dir.path, "docs/deep"))).toEqual({ added: ["docs/a.md", "docs/deep/b.md"], modified: [], deleted: [] });
  });

  test("add refuses a directory without -r, a missing path and a path outside the tree, recording nothing", async () => {
    using dir = tempDir();
    await cli(dir.path, ["init"]);
    writeFile(dir.path, "d/f");
    writeFile(dir.path, "ok.txt");
    const cases: [string[], string][] = [
      [["add", "ok.txt", "d"], "error: d: is a directory; use `soc add -r d` to track it and the files it will hold\n"],
      [["add", "ok.txt", "missing"], "error: missing: no such file or directory\n"],
      [["add", "ok.txt", "../elsewhere"], `error: ../elsewhere: outside the working tree ${dir.path}\n`],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(dir.path, args);
      expect(res.stderr).toBe(message);
      expect(res.code).toBe(2);
    }
    expect(await status(dir.path)).toEqual({ added: [], modified: [], deleted: [] });
  });

  test("add -r . tracks the whole tree, .socignore included, minus its patterns", async () => {
    using dir = tempDir();
    await cli(dir.path, ["init"]);
    writeFile(dir.path, ".socignore", "*.log\n");
    writeFile(dir.path, "x/a");
    writeFile(dir.path, "noise.log");
    expect((await cli(dir.path, ["add", "-r", "."])).stdout).toBe("tracking 2 files (2 newly tracked)\n");
    expect(await status(dir.path)).toEqual({ added: [".socignore", "x/a"], modified: [], deleted: [] });
  });

  test("--id is the original tool's name for -r; new files in a tracked directory are picked up", async () => {
    using dir = tempDir();
    await cli(dir.path, ["init"]);
    writeFile(dir.path, "d/one");
    await cli(dir.path, ["add", "--id", "d"]);
    writeFile(dir.path, "d/later/two");
    expect((await status(dir.path)).added).toEqual(["d/later/two", "d/one"]);
  });

  test(".socignore excludes files; a symlink is tracked as a link, a special file is warned about on stderr only", async () => {
    using dir = tempDir();
    await cli(dir.path, ["init"]);
    writeFile(dir.path, ".socignore", "*.tmp\ncache/\n");
    writeFile(dir.path, "d/keep.txt");
    writeFile(dir.path, "d/skip.tmp");
    writeFile(dir.path, "d/cache/big");
    symlinkSync("keep.txt", join(dir.path, "d/link"));
    expect(Bun.spawnSync(["mkfifo", join(dir.path, "d/fifo")]).exitCode).toBe(0);
    const added = await cli(dir.path, ["add", "-r", "d"]);
    expect(added.stdout).toBe("tracking 2 files (2 newly tracked)\n");
    expect(added.stderr).toBe('warning: skipping special file "d/fifo" (not followed, not tracked)\n');
    const res = await cli(dir.path, ["status", "--json"]);
    expect(JSON.parse(res.stdout)).toEqual({ added: ["d/keep.txt", "d/link"], modified: [], deleted: [] });
    expect(res.stderr).toBe('warning: skipping special file "d/fifo" (not followed, not tracked)\n');
    const ignored = await runCli(dir.path, ["add", "d/skip.tmp"]);
    expect([ignored.stderr, ignored.code]).toEqual(["error: d/skip.tmp: is ignored by .socignore\n", 2]);
  });

  test("rm stops tracking but leaves files on disk; a directory needs -r", async () => {
    using dir = tempDir();
    await cli(dir.path, ["init"]);
    writeFile(dir.path, "d/a");
    writeFile(dir.path, "d/sub/b");
    writeFile(dir.path, "d/sub/c");
    await cli(dir.path, ["add", "-r", "d"]);
    const noR = await runCli(dir.path, ["rm", "d/sub"]);
    expect([noR.stderr, noR.code]).toEqual(["error: d/sub: is a directory; use `soc rm -r d/sub`\n", 2]);
    expect((await cli(dir.path, ["rm", "-r", "d/sub"])).stdout).toBe("stopped tracking 2 files; tracking 1 file\n");
    expect(await status(dir.path)).toEqual({ added: ["d/a"], modified: [], deleted: [] });
    expect(readdirSync(join(dir.path, "d/sub")).sort()).toEqual(["b", "c"]);
    const again = await runCli(dir.path, ["rm", "d/sub/b"]);
    expect([again.stderr, again.code]).toEqual(["error: d/sub/b: not tracked\n", 2]);
    await cli(dir.path, ["add", "d/sub/b"]);
    expect((await status(dir.path)).added).toEqual(["d/a", "d/sub/b"]);
  });

  test("odd names are listed byte-exact and sorted by code point, quoted in human output", async () => {
    using dir = tempDir();
    await cli(dir.path, ["init"]);
    const names = [
      "d/with space",
      'd/"quoted"',
      "d/new\nline",
      "d/-e sh",
      "d/\u{1F600}",
      "d/\uFF5E",
      "d/e\u0301",
      `d/${"n".repeat(255)}`,
      `d/${"deep/".repeat(30)}f`,
    ];
    for (const n of names) writeFile(dir.path, n);
    await cli(dir.path, ["add", "-r", "d"]);
    const bytewise = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect((await status(dir.path)).added).toEqual(bytewise);
    const human = (await cli(dir.path, ["status"])).stdout;
    expect(human).toContain('A "d/new\\nline"\n');
    expect(human).toContain('A "d/\\"quoted\\""\n');
    expect(human).toContain("A d/-e sh\n");
    expect(human).toContain("A d/\u{1F600}\n");
    expect(human.split("\n").length).toBe(names.length + 1);
    await cli(dir.path, ["rm", "--", "d/-e sh"]);
    expect((await status(dir.path)).added).not.toContain("d/-e sh");
  });

  test("unknown commands and options exit 2 with a suggestion", async () => {
    using dir = tempDir();
    const cmd = await runCli(dir.path, ["stauts"]);
    expect([cmd.stderr, cmd.code]).toEqual(['error: unknown command "stauts" (did you mean "status"?); see `soc --help`\n', 2]);
    const flag = await runCli(dir.path, ["add", "--recursve", "x"]);
    expect([flag.stderr, flag.code]).toEqual([
      'error: unknown option --recursve for `soc add` (did you mean "recursive"?); see `soc add --help`\n',
      2,
    ]);
  });
});
