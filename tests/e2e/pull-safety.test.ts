import { describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { cli, runCli } from "../_harness/cli.ts";
import { snapshot, writeFile } from "../_harness/fs.ts";
import { run } from "../_harness/proc.ts";
import { serverAndPushedTree } from "../_harness/working-trees.ts";

/** A server, tree `a` with `files` under d/ pushed, and tree `b` cloned from it. */
async function pair(files: Record<string, string>) {
  await using stack = new AsyncDisposableStack();
  const t = stack.use(await serverAndPushedTree(files));
  const b = join(t.dir, "b");
  await cli(t.dir, ["clone", t.server.url, b]);
  const owned = stack.move();
  return { ...t, b, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

describe("pull never writes through a symlink", () => {
  test("a new file and a deletion under a symlinked directory become conflicts; nothing outside the tree changes", async () => {
    await using p = await pair({ "config/old.txt": "o", "other.txt": "x" });
    const outside = join(p.dir, "outside");
    mkdirSync(outside);
    writeFile(outside, "old.txt", "o");
    rmSync(join(p.b, "d/config"), { recursive: true });
    symlinkSync(outside, join(p.b, "d/config"));

    rmSync(join(p.a, "d/config/old.txt"));
    writeFile(p.a, "d/config/autostart/x.desktop", "Exec=evil");
    writeFile(p.a, "d/other.txt", "y");
    await cli(p.a, ["push"]);
    const res = await runCli(p.b, ["pull"]);
    expect([res.stderr, res.code]).toEqual([
      "error: conflict: d/config/autostart/x.desktop changed here and on the server; yours was left alone (`soc pull --keep-both` keeps both)\n" +
        "error: conflict: d/config/old.txt changed here and on the server; yours was left alone (`soc pull --keep-both` keeps both)\n",
      3,
    ]);
    expect(snapshot(outside)).toEqual({ "old.txt": Buffer.from("o").toString("base64") });
    expect(readFileSync(join(p.b, "d/other.txt"), "utf8")).toBe("y");
    expect((await runCli(p.b, ["pull", "--keep-both"])).code).toBe(3);
    expect(readdirSync(outside)).toEqual(["old.txt"]);
  });
});

describe("a mount point inside the tree", () => {
  test("a pull replaces a file on another filesystem (no EXDEV), whole and with its mode", async () => {
    await using p = await pair({ "mnt/f.txt": "1", "top.txt": "t" });
    const mnt = join(p.b, "d/mnt");
    const saved = join(p.dir, "saved");
    cpSync(mnt, saved, { recursive: true });
    expect((await run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt])).code).toBe(0);
    await using _mounted = { [Symbol.asyncDispose]: async () => void (await run(["umount", "-l", mnt])) };
    cpSync(saved, mnt, { recursive: true });
    expect((await cli(p.b, ["status"])).stdout).toStartWith("nothing to push");

    writeFile(p.a, "d/mnt/f.txt", "2, from a");
    writeFile(p.a, "d/mnt/new/g.txt", "new");
    await cli(p.a, ["push"]);
    await cli(p.b, ["pull"]);
    expect(snapshot(p.b)).toEqual(snapshot(p.a));
    expect(readdirSync(mnt).filter((n) => n.startsWith(".soc-tmp-"))).toEqual([]);
    for (const f of ["d/mnt/f.txt", "d/mnt/new/g.txt"]) expect(statSync(join(p.b, f)).mode).toBe(statSync(join(p.a, f)).mode);
  });
});
