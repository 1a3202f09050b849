import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, cliJson } from "../_harness/cli.ts";
import { ROOT, snapshot, tempDir, writeFile } from "../_harness/fs.ts";
import { startPostgres, type TestPostgres } from "../_harness/postgres.ts";
import { freePort, run } from "../_harness/proc.ts";
import { startServer } from "../_harness/server.ts";
import { pointAt, pushedTree } from "../_harness/working-trees.ts";

// A server whose table is in PostgreSQL (`--database postgres://…`), as a user starts one.

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.[Symbol.asyncDispose]();
});

describe("a server with its table in PostgreSQL", () => {
  test("keeps its revisions across a restart; SOC_DATABASE serves as --database", async () => {
    using dir = tempDir();
    const url = await pg.createDatabase("soc_restart");
    const root = join(dir.path, "server");
    let a: string;
    {
      await using first = await startServer({ root, args: ["--database", url] });
      a = await pushedTree(first.url, dir.path, { x: "one", "sub/y": "two" });
      writeFile(a, "d/x", "one, edited");
      await cli(a, ["push"]);
    }
    await using again = await startServer({ root, env: { SOC_DATABASE: url } });
    pointAt(a, again.url);
    expect((await cliJson<{ revision: number }>(a, ["pull"])).revision).toBe(2);
    await cli(dir.path, ["clone", again.url, join(dir.path, "b")]);
    expect(snapshot(join(dir.path, "b/d"))).toEqual(snapshot(join(a, "d")));
    expect(readFileSync(join(dir.path, "b/d/x"), "utf8")).toBe("one, edited");
    // Nothing of the table is left in the server's state directory.
    expect(readFileSync(join(root, ".soc-server/store-id"), "utf8")).toMatch(/^[0-9a-f]{32}\n$/);
    expect(existsSync(join(root, ".soc-server/soc.db"))).toBe(false);
  });

  test("a second server with a store of its own refuses to share the database, naming both stores; the first goes on", async () => {
    using dir = tempDir();
    const url = await pg.createDatabase("soc_two_stores");
    await using first = await startServer({ root: join(dir.path, "one"), args: ["--database", url] });
    const a = await pushedTree(first.url, dir.path, { x: "one" });
    const ids = ["one", "two"].map((name) => join(dir.path, name, ".soc-server/store-id"));
    const second = await run(["bun", join(ROOT, "server.ts"), "--store", join(dir.path, "two/store"), "--port", "0", "--database", url]);
    const [firstId, secondId] = ids.map((file) => readFileSync(file, "utf8").trim());
    expect(second.stderr).toBe(
      `soc server: the files of this database's rows are in the directory store ${firstId}, and this server's store is the directory store ${secondId}: ` +
        "servers sharing a database need one object store for their content, and a server moved to another machine needs its state directory " +
        "(with its store-id) moved with its store\n",
    );
    expect(second.code).toBe(1);
    writeFile(a, "d/x", "still served");
    await cli(a, ["push"]);
    expect(readFileSync(join(first.store, "d/x"), "utf8")).toBe("still served");
  });

  test("a database it cannot reach stops it at start, naming the address without the password", async () => {
    using dir = tempDir();
    const url = `postgres://soc:secret@127.0.0.1:${freePort()}/soc`;
    const res = await run(["bun", join(ROOT, "server.ts"), "--store", join(dir.path, "store"), "--port", "0", "--database", url]);
    expect(res.stderr).toStartWith(`soc server: cannot use the PostgreSQL database at ${url.replace(":secret@", ":***@")}: `);
    expect(res.stderr).not.toContain("secret");
    expect(res.code).toBe(1);
  });

  test("an existing server moves onto PostgreSQL with --import: its clients go on without noticing, history and all", async () => {
    using dir = tempDir();
    const root = join(dir.path, "server");
    let a: string;
    {
      await using old = await startServer({ root });
      a = await pushedTree(old.url, dir.path, { x: "first", y: "why" });
      writeFile(a, "d/x", "second");
      await cli(a, ["push"]);
    }
    const url = await pg.createDatabase("soc_moved");
    const store = join(root, "store");
    const imported = await run(["bun", join(ROOT, "server.ts"), "--store", store, "--database", url, "--import", join(root, ".soc-server/soc.db")]);
    expect([imported.stdout, imported.stderr, imported.code]).toEqual([
      `imported revision 2 (2 file rows, 1 kept versions) from ${join(root, ".soc-server/soc.db")}; start the server without --import\n`,
      "",
      0,
    ]);
    const again = await run(["bun", join(ROOT, "server.ts"), "--store", store, "--database", url, "--import", join(root, ".soc-server/soc.db")]);
    expect([again.stderr, again.code]).toEqual([
      "soc server: the PostgreSQL table already holds revision 2: import only into a new, empty database\n",
      1,
    ]);

    await using moved = await startServer({ root, args: ["--database", url] });
    pointAt(a, moved.url);
    expect((await cliJson<{ revision: number }>(a, ["pull"])).revision).toBe(2);
    const log = await cliJson<{ revisions: { rev: number }[] }>(a, ["log", "--json"]);
    expect(log.revisions.map((r) => r.rev)).toEqual([2, 1]);
    await cli(a, ["restore", "d/x", "--rev", "1"]); // from the version the old server kept
    expect(readFileSync(join(a, "d/x"), "utf8")).toBe("first");
  });
});
