import { beforeEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { cli, runCli } from "../_harness/cli.ts";
import { tempDir, tree, writeFile } from "../_harness/fs.ts";
import { startServer } from "../_harness/server.ts";
import { overEveryTable } from "../_harness/tables.ts";
import { pointAt, pushedTree } from "../_harness/working-trees.ts";

// A push whose commit is cut short, by an error or by SIGKILL, at each step of the server's work.
// After a restart: `soc verify --server` is clean, a new clone holds exactly what the table says,
// and the push happened entirely or not at all, as its client was told.

const BEFORE = { "keep.txt": "keep", "mod.txt": "old", "del.txt": "doomed", x: "x is a file", "y/one": "y is a dir" };
const AFTER = { "keep.txt": "keep", "mod.txt": "new", "x/in": "x is a dir now", y: "y is a file now", "n/e/w.txt": "new" };

/** Turns working tree `a`'s d/ from BEFORE into AFTER: a change, a delete, an add, a file becoming a directory and the reverse. */
function change(a: string): void {
  const d = join(a, "d");
  for (const path of ["del.txt", "x", "y"]) rmSync(join(d, path), { recursive: true });
  for (const [path, content] of Object.entries(AFTER)) writeFile(d, path, content);
}

/** A server's state in `dir`/server (its table as `args` say) holding BEFORE as revision 1, pushed from working tree `dir`/a; no server left running. */
async function pushedBefore(dir: string, args: string[]): Promise<{ root: string; a: string }> {
  const root = join(dir, "server");
  await using first = await startServer({ root, args });
  return { root, a: await pushedTree(first.url, dir, BEFORE) };
}

/** Each cut: where, and whether the push happened (the rows were committed before it). */
const CUTS: [failpoint: string, happened: boolean][] = [
  ["staged:kill", false],
  ["staged:throw", false],
  ["committed:kill", true],
  ["kept@2:kill", true],
  ["kept:throw", true],
  ["deleted@2:kill", true],
  ["written@1:kill", true],
  ["written@3:kill", true],
  ["written@2:throw", true],
  ["synced:kill", true],
];

/** The cuts PostgreSQL's journal is put through too: before the commit, right after it, midway through the files, and a failure. */
const PG_CUTS = new Set(["staged:kill", "committed:kill", "written@3:kill", "written@2:throw"]);

overEveryTable((table) => {
  describe("a commit cut short", () => {
    let args: string[] = [];
    beforeEach(async () => {
      args = await table.serverArgs(); // a table of its own for each test
    });
    const cuts = table.name === "postgres" ? CUTS.filter(([failpoint]) => PG_CUTS.has(failpoint)) : CUTS;
    test.each(cuts)(
      "at %s: after a restart, verify is clean, a clone matches the table, the push is whole or absent",
      async (failpoint, happened) => {
        using dir = tempDir();
        const { root, a } = await pushedBefore(dir.path, args);
        change(a);
        {
          await using cut = await startServer({ root, args, env: { SOC_TEST_FAILPOINT: failpoint } });
          pointAt(a, cut.url);
          const push = await runCli(a, ["push"]);
          // Never told success for a push that did not happen. A failure thrown is answered; a kill
          // before the files are in the store answers nothing; the answer goes once they are, so a kill
          // while syncing them races it, and either outcome is true.
          const told = push.code === 0;
          if (told) expect(happened).toBe(true);
          if (failpoint.endsWith(":throw")) expect(told).toBe(happened);
          else if (!failpoint.startsWith("synced")) expect(told).toBe(false);
        }
        await using server = await startServer({ root, args });
        if (happened) expect(server.log()).toContain("finished the file work of revision 2, left unfinished by the last run");
        pointAt(a, server.url);
        await cli(a, ["verify", "--server"]);
        await cli(dir.path, ["clone", server.url, join(dir.path, "b")]);
        expect(tree(join(dir.path, "b/d"))).toEqual(happened ? AFTER : BEFORE);
        // The client that was cut off pushes again, and it all lands once.
        await cli(a, ["push"]);
        await cli(dir.path, ["clone", server.url, join(dir.path, "c")]);
        expect(tree(join(dir.path, "c/d"))).toEqual(AFTER);
        await cli(a, ["verify", "--server"]);
      },
    );

    test("a commit whose file work failed is finished before the server's next request, without a restart", async () => {
      using dir = tempDir();
      const { root, a } = await pushedBefore(dir.path, args);
      await using server = await startServer({ root, args, env: { SOC_TEST_FAILPOINT: "written@2:throw" } });
      pointAt(a, server.url);
      change(a);
      await cli(a, ["push"]);
      expect(server.log()).toContain(
        "revision 2 is committed but its files are not all in the store yet: failpoint written@2; trying again before the next request",
      );
      await cli(a, ["verify", "--server"]);
      await cli(dir.path, ["clone", server.url, join(dir.path, "b")]);
      expect(tree(join(dir.path, "b/d"))).toEqual(AFTER);
    });

    test("a stray directory in the store where a pushed file goes is moved aside, and the push lands whole", async () => {
      using dir = tempDir();
      await using server = await startServer({ root: join(dir.path, "server"), args });
      const a = await pushedTree(server.url, dir.path, BEFORE);
      writeFile(server.store, "d/n/e/w.txt/stray", "put there by hand");
      change(a);
      await cli(a, ["push"]);
      await cli(a, ["verify", "--server"]);
      await cli(dir.path, ["clone", server.url, join(dir.path, "b")]);
      expect(tree(join(dir.path, "b/d"))).toEqual(AFTER);
      expect(tree(join(server.stateDir, "displaced"))).toEqual({ "2/d/n/e/w.txt/stray": "put there by hand" });
      expect(server.log()).toContain(`revision 2: "d/n/e/w.txt" stood in the store's way and is not in the table; moved to`);
    });
  });
});
