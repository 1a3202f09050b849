import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { commands } from "../../cli.ts";
import pkg from "../../package.json" with { type: "json" };
import { cli, runCli } from "../_harness/cli.ts";
import { tempDir, writeFile } from "../_harness/fs.ts";
import { startServer } from "../_harness/server.ts";
import { pushedTree } from "../_harness/working-trees.ts";

describe("cron", () => {
  test("the scheduled line pulls under cron's bare environment: no HOME, no TTY, silent on success", async () => {
    await using server = await startServer({ token: "cron-token" });
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { f: "1" }, ["--token", "cron-token"]);
    await cli(dir.path, ["clone", server.url, join(dir.path, "b"), "--token", "cron-token"]);
    writeFile(a, "d/f", "2 from A");
    await cli(a, ["push"]);

    const line = (await cli(join(dir.path, "b"), ["schedule", "pull", "--every", "15m"])).stdout.trim();
    expect(line).toStartWith("*/15 * * * * cd ");
    expect(line).toEndWith(`pull --quiet >> ${join(dir.path, "b", ".soc", "pull.log")} 2>&1 # soc pull ${join(dir.path, "b")}`);
    const command = line.split(" ").slice(5).join(" ").replaceAll("\\%", "%");
    const run = Bun.spawnSync(["env", "-i", "PATH=/usr/bin:/bin", "sh", "-c", command], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect([run.stdout.toString(), run.stderr.toString(), run.exitCode]).toEqual(["", "", 0]);
    expect(readFileSync(join(dir.path, "b/.soc/pull.log"), "utf8")).toBe("");
    expect(readFileSync(join(dir.path, "b/d/f"), "utf8")).toBe("2 from A");
    expect((await cli(join(dir.path, "b"), ["status"])).stdout).toMatch(
      /^nothing to push \(1 file tracked\)\nno successful push yet\nlast pull \S+ \(revision 2\)\n$/,
    );
  });

  test("a failing pull is visible in status; one line per problem on stderr with --quiet", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { f: "1" });
    await server[Symbol.asyncDispose]();
    const res = await runCli(a, ["pull", "--quiet"]);
    expect([res.stdout, res.stderr.split("\n").length, res.code]).toEqual(["", 2, 4]);
    expect(res.stderr).toStartWith(`error: cannot reach the soc server at ${server.url}`);
    const status = (await cli(a, ["status"])).stdout;
    expect(status).toMatch(/\nlast push \S+ \(revision 1\)\nno successful pull yet; last attempt \S+: error: cannot reach the soc server/);
  });

  describe("installing into the crontab", () => {
    let saved = "";
    beforeAll(() => {
      const res = Bun.spawnSync(["crontab", "-l"], { stdout: "pipe", stderr: "pipe" });
      saved = res.exitCode === 0 ? res.stdout.toString() : "";
    });
    afterAll(() => {
      Bun.spawnSync(saved ? ["crontab", "-"] : ["crontab", "-r"], { stdin: new TextEncoder().encode(saved), stderr: "ignore" });
    });

    test("--install adds one line per tree (replacing an earlier one), --remove takes it out", async () => {
      using dir = tempDir();
      await cli(dir.path, ["init"]);
      const mine = () =>
        Bun.spawnSync(["crontab", "-l"], { stdout: "pipe", stderr: "pipe" })
          .stdout.toString()
          .split("\n")
          .filter((l) => l.endsWith(`# soc pull ${dir.path}`));
      await cli(dir.path, ["schedule", "pull", "--every", "5m", "--install"]);
      await cli(dir.path, ["schedule", "pull", "--every", "2h", "--install"]);
      expect(mine().length).toBe(1);
      expect(mine()[0]).toStartWith("0 */2 * * * cd ");
      expect((await cli(dir.path, ["schedule", "--remove"])).stdout).toBe(`removed the scheduled pull for ${dir.path} from your crontab\n`);
      expect(mine()).toEqual([]);
    });
  });
});

const loadedCommands = await Promise.all(Object.entries(commands).map(async ([name, load]) => [name, await load()] as const));

describe("the CLI itself", () => {
  test("--version prints the version", async () => {
    using dir = tempDir();
    expect((await cli(dir.path, ["--version"])).stdout).toBe(`soc ${pkg.version}\n`);
  });

  for (const [name, cmd] of loadedCommands) {
    if ((cmd.meta as { hidden?: boolean } | undefined)?.hidden) continue;
    test(`soc ${name} --help describes every flag and gives an example`, async () => {
      using dir = tempDir();
      const res = await cli(dir.path, [name, "--help"]);
      expect(res.stdout).toContain("example: soc ");
      for (const def of Object.values(cmd.args ?? {})) expect(res.stdout).toContain((def as { description: string }).description.slice(0, 40));
    });
  }
});
