import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes, md5File } from "../../lib/shared/hash.ts";
import { cli, cliJson, runCli } from "../_harness/cli.ts";
import { snapshot, tempDir, writeFile, writeTree } from "../_harness/fs.ts";
import { overEveryTable } from "../_harness/tables.ts";
import { serverAndPushedTree } from "../_harness/working-trees.ts";

/** Rewrites a file with same-size content and puts its mtime back: invisible to a stat check. */
function corrupt(path: string): void {
  const st = statSync(path);
  const bytes = readFileSync(path);
  bytes[0] = (bytes[0] as number) ^ 0xff;
  writeFileSync(path, bytes);
  utimesSync(path, st.atime, st.mtime);
}

describe("portability warnings at add", () => {
  test("each kind of name that will not sync to Windows or macOS is listed once on stderr, and tracked anyway", async () => {
    using dir = tempDir();
    await cli(dir.path, ["init"]);
    for (const name of ["CON.txt", "lpt1", "a:b", "q?", "trail.", "space ", "Readme", "README", "e\u0301", "\u00e9", "fine.txt"])
      writeFile(dir.path, `d/${name}`, "x");
    const res = await cli(dir.path, ["add", "-r", "d"]);
    expect(res.stdout).toBe("tracking 11 files (11 newly tracked)\n");
    expect(res.stderr).toBe(
      [
        "warning: 8 names will not sync to Windows or macOS as they are (tracked anyway):",
        '  "d/CON.txt": "CON.txt" is a reserved device name on Windows',
        '  "d/a:b": "a:b" holds a character Windows refuses (<>:"\\|?* or a control character)',
        '  "d/lpt1": "lpt1" is a reserved device name on Windows',
        '  "d/q?": "q?" holds a character Windows refuses (<>:"\\|?* or a control character)',
        '  "d/space ": "space " ends in a dot or space, which Windows drops',
        '  "d/trail.": "trail." ends in a dot or space, which Windows drops',
        '  "d/README" and "d/Readme" differ only by case (one overwrites the other on Windows and macOS)',
        '  "d/e\\u{301}" and "d/\\u{e9}" are the same after Unicode normalisation (NFC/NFD; macOS treats them as one)',
        "",
      ].join("\n"),
    );
    expect((await cli(dir.path, ["add", "-r", "d"])).stderr).toBe("");
  });
});

describe("mass deletion", () => {
  test("an emptied tracked directory is refused on the client, and goes through with --allow-mass-delete", async () => {
    await using t = await serverAndPushedTree({ a: "1", b: "2", "sub/c": "3" });
    rmSync(join(t.a, "d"), { recursive: true });
    mkdirSync(join(t.a, "d"));
    const refused = await runCli(t.a, ["push"]);
    expect(refused.stderr).toBe(
      'error: refusing to push: tracked directory "d" is empty or gone, so its 3 files would be deleted everywhere (an unmounted disk looks like this); pass --allow-mass-delete if you mean it\n',
    );
    expect(refused.code).toBe(1);
    expect(Object.keys(snapshot(t.server.store)).sort()).toEqual(["d/a", "d/b", "d/sub/c"]);
    await cli(t.a, ["push", "--allow-mass-delete"]);
    expect(snapshot(t.server.store)).toEqual({});
  });

  test("a directory below a root that held 10+ tracked files and is now empty or gone (an unmounted disk) is refused too", async () => {
    const disk = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`disk/photos/p${i}.jpg`, `photo ${i}`]));
    await using t = await serverAndPushedTree({ ...disk, "small/x": "x", "small/y": "y", keep: "k" });
    const stored = Object.keys(snapshot(t.server.store)).sort();
    const message = (dir: string) =>
      `error: refusing to push: directory "${dir}" is empty or gone, so its 12 files would be deleted everywhere (an unmounted disk looks like this); pass --allow-mass-delete if you mean it\n`;
    for (const emptied of ["d/disk", "d/disk/photos"]) {
      rmSync(join(t.a, emptied), { recursive: true });
      mkdirSync(join(t.a, emptied)); // the mount point, with nothing mounted on it
      const refused = await runCli(t.a, ["push"]);
      expect([refused.stderr, refused.code]).toEqual([message(emptied), 1]);
      rmSync(join(t.a, "d/disk"), { recursive: true }); // gone altogether
      expect((await runCli(t.a, ["push"])).stderr).toBe(message("d/disk"));
      expect(Object.keys(snapshot(t.server.store)).sort()).toEqual(stored);
      writeTree(join(t.a, "d"), disk);
    }
    rmSync(join(t.a, "d/small"), { recursive: true }); // a small folder deleted on purpose goes through
    expect((await cli(t.a, ["push"])).stdout).toBe("pushed 0 files, deleted 2: now at revision 2\n");
    rmSync(join(t.a, "d/disk"), { recursive: true });
    await cli(t.a, ["push", "--allow-mass-delete"]);
    expect(Object.keys(snapshot(t.server.store))).toEqual(["d/keep"]);
  });
});

describe("verify", () => {
  test("finds a tracked file whose content changed behind soc's back with its mtime restored", async () => {
    await using t = await serverAndPushedTree({ ok: "fine", bad: "original content" });
    const past = new Date(Date.now() - 3600_000);
    for (const f of ["ok", "bad"]) utimesSync(join(t.a, "d", f), past, past);
    await cli(t.a, ["status"]);
    expect((await cli(t.a, ["verify"])).stdout).toBe("checked 2 files here: all intact\n");
    corrupt(join(t.a, "d/bad"));
    const res = await runCli(t.a, ["verify", "--json"]);
    const out = JSON.parse(res.stdout) as { checked: number; mismatches: { path: string }[] };
    expect([out.checked, out.mismatches.map((m) => m.path), res.code]).toEqual([2, ["d/bad"], 1]);
  });
});

overEveryTable((table) => {
  describe("history through the CLI", () => {
    test("log --json lists revisions newest first; a path's history shows every change", async () => {
      await using t = await serverAndPushedTree({ x: "one" }, [], await table.serverArgs());
      writeFile(t.a, "d/x", "two");
      await cli(t.a, ["push"]);
      rmSync(join(t.a, "d/x"));
      writeFile(t.a, "d/y", "keeps d/ non-empty");
      await cli(t.a, ["push"]);
      const log = await cliJson<{
        revisions: { rev: number; added: number; modified: number; deleted: number }[];
      }>(t.a, ["log"]);
      expect(log.revisions.map((r) => [r.rev, r.added, r.modified, r.deleted])).toEqual([
        [3, 1, 0, 1],
        [2, 0, 1, 0],
        [1, 1, 0, 0],
      ]);
      const path = await cliJson<{
        history: { rev: number; action: string; available: boolean }[];
      }>(join(t.a, "d"), ["log", "x"]);
      expect(path.history.map((h) => [h.rev, h.action, h.available])).toEqual([
        [3, "deleted", false],
        [2, "modified", true],
        [1, "added", true],
      ]);
    });

    test("overwritten and deleted content comes back byte for byte: into a file, or as a new revision for everyone", async () => {
      const first = "first version \u0000\u00ff";
      await using t = await serverAndPushedTree({ doc: first, other: "o" }, [], await table.serverArgs());
      writeFile(t.a, "d/doc", "second version");
      await cli(t.a, ["push"]);
      await cli(t.a, ["restore", "d/doc", "--rev", "1", "--to", "old-doc"]);
      expect(readFileSync(join(t.a, "old-doc"), "latin1")).toBe(Buffer.from(first).toString("latin1"));
      const exists = await runCli(t.a, ["restore", "d/doc", "--to", "old-doc"]);
      expect([exists.stderr, exists.code]).toEqual(["error: old-doc: already exists; choose a new file for --to\n", 2]);

      rmSync(join(t.a, "d/doc"));
      await cli(t.a, ["push"]);
      const restored = await cliJson<{
        revision: number;
        restored: { path: string; fromRev: number }[];
      }>(t.a, ["restore", "d/doc"]);
      expect(restored.restored).toEqual([{ path: "d/doc", fromRev: 2 }]);
      expect(readFileSync(join(t.a, "d/doc"), "utf8")).toBe("second version");
      expect(readFileSync(join(t.server.store, "d/doc"), "utf8")).toBe("second version");
      await cli(t.a, ["restore", "d/doc", "--rev", "1"]);
      expect(readFileSync(join(t.a, "d/doc"))).toEqual(Buffer.from(first));
      const gone = await runCli(t.a, ["restore", "d/never"]);
      expect([gone.stderr, gone.code]).toEqual(['error: server: "d/never" has never existed on the server\n', 1]);
    });

    test("restore --to checks the bytes against the server's md5: a damaged store copy fails, naming both digests, and writes nothing", async () => {
      await using t = await serverAndPushedTree({ doc: "the content as pushed" }, [], await table.serverArgs());
      const named = md5Bytes("the content as pushed");
      corrupt(join(t.server.store, "d/doc"));
      const damaged = md5File(join(t.server.store, "d/doc"));
      mkdirSync(join(t.a, "out"));
      const res = await runCli(t.a, ["restore", "d/doc", "--to", "out/doc"]);
      expect([res.stderr, res.code]).toEqual([
        `error: d/doc: the server sent bytes with md5 ${damaged} but named md5 ${named} for them; its copy may be damaged (\`soc verify --server\`); nothing was written to ${join(t.a, "out/doc")}\n`,
        1,
      ]);
      expect(readdirSync(join(t.a, "out"))).toEqual([]);
    });

    test("the server refuses a push deleting over half of its files and changes nothing; the flag lets it through", async () => {
      const files = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, `content ${i}`]));
      await using t = await serverAndPushedTree(files, [], await table.serverArgs());
      for (let i = 0; i < 6; i++) rmSync(join(t.a, `d/f${i}`));
      const before = snapshot(t.server.store);
      const refused = await runCli(t.a, ["push"]);
      expect(refused.stderr).toBe(
        "error: server: this push would delete 6 of the 10 files on the server (more than half); pass --allow-mass-delete if that is intended\n",
      );
      expect(refused.code).toBe(1);
      expect(snapshot(t.server.store)).toEqual(before);
      expect((await cliJson<{ deleted: string[] }>(t.a, ["push", "--allow-mass-delete"])).deleted.length).toBe(6);
    });

    test("verify --server finds a store file corrupted behind the server's back", async () => {
      await using t = await serverAndPushedTree({ good: "good", bad: "bad content" }, [], await table.serverArgs());
      corrupt(join(t.server.store, "d/bad"));
      const res = await runCli(t.a, ["verify", "--server", "--json"]);
      const out = JSON.parse(res.stdout) as { checked: number; mismatches: { path: string }[] };
      expect([out.checked, out.mismatches.map((m) => m.path), res.code]).toEqual([2, ["d/bad"], 1]);
    });

    test("push --force repairs a damaged or lost store file from the tree without a new revision", async () => {
      await using t = await serverAndPushedTree({ good: "good", bad: "bad content", lost: "lost content" }, [], await table.serverArgs());
      corrupt(join(t.server.store, "d/bad"));
      rmSync(join(t.server.store, "d/lost"));
      const res = await cliJson<{ revision: number; transferred: string[] }>(t.a, ["push", "--force"]);
      expect([res.revision, res.transferred]).toEqual([1, []]);
      expect(snapshot(t.server.store)).toEqual(snapshot(t.a));
      expect((await cli(t.a, ["verify", "--server"])).stdout).toBe("checked 3 files on the server: all intact\n");
    });
  });
});
