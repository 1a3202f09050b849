import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { cli, cliJson, runCli } from "../_harness/cli.ts";
import { snapshot, writeFile } from "../_harness/fs.ts";
import { overEveryTransport } from "../_harness/transports.ts";
import { serverAndPushedTree } from "../_harness/working-trees.ts";

type PushJson = { revision: number; transferred: string[]; deleted: string[]; conflicts: string[] };
type PullJson = PushJson & { keptBoth: string[]; linksSkipped: string[] };
type StatusJson = { added: string[]; modified: string[]; deleted: string[] };

/** A server, tree `a` with `files` under d/ pushed, a directory `outside` beside the trees, and tree `b` cloned from the server. */
async function pairOver(files: Record<string, string>, remoteArgs: string[], cloneEnv: Record<string, string> = {}) {
  await using stack = new AsyncDisposableStack();
  const t = stack.use(await serverAndPushedTree(files, remoteArgs));
  const outside = join(t.dir, "outside");
  writeFile(outside, "secret", "never sent");
  const b = join(t.dir, "b");
  await cli(t.dir, ["clone", t.server.url, b, ...remoteArgs], 0, cloneEnv);
  const owned = stack.move();
  return { ...t, outside, b, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** The link at `top/rel`: its target, after checking that it is a symlink. */
function linkAt(top: string, rel: string): string {
  expect(lstatSync(join(top, rel)).isSymbolicLink()).toBe(true);
  return readlinkSync(join(top, rel));
}

const CLEAN: StatusJson = { added: [], modified: [], deleted: [] };

overEveryTransport((transport) => {
  describe(`symlinks sync as symlinks over ${transport.name}`, () => {
    beforeAll(() => transport.start());
    afterAll(() => transport.stop());
    const pair = (files: Record<string, string>) => pairOver(files, transport.initArgs());

    test("relative, absolute, dangling, to a directory and out of the tree: each arrives as the same link, never followed", async () => {
      await using p = await pair({ "file.txt": "content", "sub/inner.txt": "inner" });
      symlinkSync("file.txt", join(p.a, "d/rel"));
      symlinkSync(join(p.outside, "secret"), join(p.a, "d/abs"));
      symlinkSync("../../nowhere/at all", join(p.a, "d/sub/dangling"));
      symlinkSync("sub", join(p.a, "d/dirlink"));
      symlinkSync(p.outside, join(p.a, "d/outdir"));
      expect(await cliJson<StatusJson>(p.a, ["status"])).toEqual({ ...CLEAN, added: ["d/abs", "d/dirlink", "d/outdir", "d/rel", "d/sub/dangling"] });
      const pushed = await cliJson<PushJson>(p.a, ["push"]);
      expect(pushed.transferred).toEqual(["d/abs", "d/dirlink", "d/outdir", "d/rel", "d/sub/dangling"]);
      const pulled = await cliJson<PullJson>(p.b, ["pull"]);
      expect(pulled.transferred).toEqual(pushed.transferred);

      // The same links on B and in the store; nothing behind them was read or copied.
      expect(snapshot(p.b)).toEqual(snapshot(p.a));
      expect(snapshot(p.server.store)).toEqual(snapshot(p.a));
      expect(linkAt(p.b, "d/abs")).toBe(join(p.outside, "secret"));
      expect(linkAt(p.b, "d/sub/dangling")).toBe("../../nowhere/at all");
      expect(linkAt(p.b, "d/outdir")).toBe(p.outside);
      expect(linkAt(p.server.store, "d/dirlink")).toBe("sub");
      expect(readdirSync(p.outside)).toEqual(["secret"]);
      for (const top of [p.a, p.b]) expect(await cliJson<StatusJson>(top, ["status"])).toEqual(CLEAN);
    });

    test("a target change is an edit; a link becomes a file and a file a link; a clash by target is a conflict like any other", async () => {
      await using p = await pair({ "one.txt": "1", "two.txt": "2", "plain.txt": "file.txt" });
      symlinkSync("one.txt", join(p.a, "d/which"));
      symlinkSync("one.txt", join(p.a, "d/becomes-file"));
      await cli(p.a, ["push"]);
      await cli(p.b, ["pull"]);

      rmSync(join(p.a, "d/which"));
      symlinkSync("two.txt", join(p.a, "d/which"));
      rmSync(join(p.a, "d/becomes-file"));
      writeFile(p.a, "d/becomes-file", "one.txt"); // the old target's text as content: still a change
      rmSync(join(p.a, "d/plain.txt"));
      symlinkSync("file.txt", join(p.a, "d/plain.txt")); // the old content's text as target: still a change
      expect(await cliJson<StatusJson>(p.a, ["status"])).toEqual({ ...CLEAN, modified: ["d/becomes-file", "d/plain.txt", "d/which"] });
      await cli(p.a, ["push"]);
      expect((await cliJson<PullJson>(p.b, ["pull"])).transferred).toEqual(["d/becomes-file", "d/plain.txt", "d/which"]);
      expect(snapshot(p.b)).toEqual(snapshot(p.a));
      expect(linkAt(p.b, "d/which")).toBe("two.txt");
      expect(lstatSync(join(p.b, "d/becomes-file")).isFile()).toBe(true);
      expect(linkAt(p.b, "d/plain.txt")).toBe("file.txt");
      expect(await cliJson<StatusJson>(p.b, ["status"])).toEqual(CLEAN);

      // Both retarget the same link: the second push is refused, and --keep-both keeps B's link aside.
      rmSync(join(p.a, "d/which"));
      symlinkSync("one.txt", join(p.a, "d/which"));
      rmSync(join(p.b, "d/which"));
      symlinkSync("elsewhere", join(p.b, "d/which"));
      await cli(p.a, ["push"]);
      expect((await cliJson<PushJson>(p.b, ["push"], 3)).conflicts).toEqual(["d/which"]);
      expect((await cliJson<PullJson>(p.b, ["pull"], 3)).conflicts).toEqual(["d/which"]);
      expect(linkAt(p.b, "d/which")).toBe("elsewhere");
      expect((await cliJson<PullJson>(p.b, ["pull", "--keep-both"])).keptBoth).toHaveLength(1);
      expect(linkAt(p.b, "d/which")).toBe("one.txt");
      const copy = readdirSync(join(p.b, "d")).find((n) => n.startsWith("which.conflict-")) as string;
      expect(linkAt(p.b, `d/${copy}`)).toBe("elsewhere");
      expect(await cliJson<StatusJson>(p.b, ["status"])).toEqual(CLEAN);
    });
  });
});

describe("symlinks, whatever the transport", () => {
  test("the same link made on both sides is adopted, not a conflict; a deleted link is deleted, its target untouched", async () => {
    await using p = await pairOver({ "t.txt": "t" }, []);
    symlinkSync("t.txt", join(p.a, "d/same"));
    symlinkSync("t.txt", join(p.b, "d/same"));
    await cli(p.a, ["push"]);
    expect(await cliJson<PullJson>(p.b, ["pull"])).toMatchObject({ conflicts: [], transferred: [] });
    expect(await cliJson<StatusJson>(p.b, ["status"])).toEqual(CLEAN);
    rmSync(join(p.b, "d/same"));
    expect((await cliJson<PushJson>(p.b, ["push"])).deleted).toEqual(["d/same"]);
    expect((await cliJson<PullJson>(p.a, ["pull"])).deleted).toEqual(["d/same"]);
    expect(readdirSync(join(p.a, "d"))).toEqual(["t.txt"]);
    expect(readFileSync(join(p.a, "d/t.txt"), "utf8")).toBe("t");
  });

  test("`soc add` of a link to a directory tracks the link alone; a history restore brings an old target back", async () => {
    await using p = await pairOver({ "keep.txt": "k" }, []);
    writeFile(p.outside, "tree/deep.txt", "deep");
    symlinkSync(join(p.outside, "tree"), join(p.a, "tree-link"));
    await cli(p.a, ["add", "tree-link"]);
    expect(await cliJson<StatusJson>(p.a, ["status"])).toEqual({ ...CLEAN, added: ["tree-link"] });
    const first = await cliJson<PushJson>(p.a, ["push"]);
    rmSync(join(p.a, "tree-link"));
    symlinkSync("d", join(p.a, "tree-link"));
    await cli(p.a, ["push"]);
    await cli(p.a, ["restore", "tree-link", "--rev", String(first.revision)]);
    expect(linkAt(p.a, "tree-link")).toBe(join(p.outside, "tree"));
    await cli(p.b, ["pull"]);
    expect(linkAt(p.b, "tree-link")).toBe(join(p.outside, "tree"));
    expect(snapshot(p.b)).toEqual(snapshot(p.a));
    const to = await runCli(p.b, ["restore", "tree-link", "--to", join(p.outside, "copy")]);
    expect([to.stderr, to.code]).toEqual([expect.stringContaining('"tree-link" is a symlink to'), 1]);

    // verify re-reads a link whose stat still matches: a target swapped and its mtime put back is found.
    const past = new Date(Date.now() - 3600_000);
    lutimesSync(join(p.b, "tree-link"), past, past);
    await cli(p.b, ["status"]); // the base takes that mtime
    expect((await cli(p.b, ["verify"])).stdout).toBe("checked 2 files here: all intact\n");
    rmSync(join(p.b, "tree-link"));
    symlinkSync(join(p.outside, "TREE"), join(p.b, "tree-link"));
    lutimesSync(join(p.b, "tree-link"), past, past);
    const found = await runCli(p.b, ["verify", "--json"]);
    expect(JSON.parse(found.stdout).mismatches).toEqual([expect.objectContaining({ path: "tree-link" })]);
  });

  test("a tree that cannot make symlinks skips them with one warning and never pushes them as deleted", async () => {
    const noLinks = { SOC_TEST_FS: "windows" };
    await using p = await pairOver({ "a.txt": "a", "b.txt": "b" }, [], noLinks);
    symlinkSync("a.txt", join(p.a, "d/l1"));
    symlinkSync("b.txt", join(p.a, "d/l2"));
    rmSync(join(p.a, "d/b.txt"));
    symlinkSync("a.txt", join(p.a, "d/b.txt")); // a file there becomes a link
    await cli(p.a, ["push"]);

    const pulled = await runCli(p.b, ["pull"], noLinks);
    expect([pulled.stderr, pulled.code]).toEqual([
      "warning: this filesystem cannot make symlinks: skipped 3 (d/b.txt, d/l1, d/l2); they stay on the server and are not deleted\n",
      0,
    ]);
    expect(readdirSync(join(p.b, "d")).sort()).toEqual(["a.txt"]); // the clean file the link replaced went, as a deletion would take it
    expect(await cliJson<StatusJson>(p.b, ["status"])).toEqual(CLEAN);
    writeFile(p.b, "d/a.txt", "edited on B");
    const pushed = await cliJson<PushJson>(p.b, ["push"]);
    expect([pushed.transferred, pushed.deleted]).toEqual([["d/a.txt"], []]);
    expect(linkAt(p.server.store, "d/l1")).toBe("a.txt");
    expect((await runCli(p.b, ["pull"], noLinks)).stderr).toBe(""); // said once: the skipped rows are behind the pull now
  });

  test("a tracked directory replaced by a link: its files count as deleted, nothing is read through the link, and a tracked root refuses", async () => {
    await using p = await pairOver({ "conf/x.txt": "x", "conf/y.txt": "y", "top.txt": "t" }, []);
    mkdirSync(join(p.outside, "conf"));
    writeFile(p.outside, "conf/x.txt", "outside's x");
    rmSync(join(p.a, "d/conf"), { recursive: true });
    symlinkSync(join(p.outside, "conf"), join(p.a, "d/conf"));
    expect(await cliJson<StatusJson>(p.a, ["status"])).toEqual({ added: ["d/conf"], modified: [], deleted: ["d/conf/x.txt", "d/conf/y.txt"] });
    await cli(p.a, ["push"]);
    await cli(p.b, ["pull"]);
    expect(linkAt(p.b, "d/conf")).toBe(join(p.outside, "conf"));
    expect(readFileSync(join(p.outside, "conf/x.txt"), "utf8")).toBe("outside's x");

    // The tracked root itself a link: what an unmounted disk looks like, refused.
    rmSync(join(p.b, "d"), { recursive: true });
    symlinkSync(p.outside, join(p.b, "d"));
    const refused = await runCli(p.b, ["push"]);
    expect([refused.stderr, refused.code]).toEqual([expect.stringContaining('refusing to push: tracked directory "d" is empty or gone'), 1]);
  });
});
