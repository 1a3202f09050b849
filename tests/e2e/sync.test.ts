import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { cli, cliJson, runCli } from "../_harness/cli.ts";
import { snapshot, writeFile } from "../_harness/fs.ts";
import type { TestServer } from "../_harness/server.ts";
import { serverAndPushedTree } from "../_harness/working-trees.ts";
import { overEveryTable } from "../_harness/tables.ts";
import { overEveryTransport } from "../_harness/transports.ts";

type Json = { revision: number; transferred: string[]; deleted: string[]; conflicts: string[] };

let clones = 0;

/** A server (started with `serverArgs`) plus tree A (with `files` tracked under d/ and pushed) and tree B cloned from it. */
async function pairOver(files: Record<string, string>, remoteArgs: string[], serverArgs: string[], cache: boolean) {
  await using stack = new AsyncDisposableStack();
  const { server, dir, a } = stack.use(await serverAndPushedTree(files, remoteArgs, serverArgs, { cache }));
  const b = join(dir, "b");
  await cli(dir, ["clone", server.url, b, ...remoteArgs]);
  const owned = stack.move();
  return {
    server,
    a,
    b,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

// The table in PostgreSQL (and a node of a cluster, its content in S3) needs no other transport:
// they meet the table only through the server.
overEveryTable(
  (table) => {
    overEveryTransport(
      (transport) => {
        describe(`push and pull between two working trees over ${transport.name}`, () => {
          beforeAll(() => transport.start());
          afterAll(() => transport.stop());
          const pair = async (files: Record<string, string>) => pairOver(files, transport.initArgs(), await table.serverArgs(), table.cache === true);
          /** What the server's store holds under `rel`: a node with a cache holds no tree, so then what a fresh clone of it holds. */
          const held = async (p: { server: TestServer }, rel = "") => {
            if (!table.cache) return join(p.server.store, rel);
            const copy = join(dirname(p.server.store), `clone-${++clones}`);
            await cli(dirname(copy), ["clone", p.server.url, copy, ...transport.initArgs()]);
            return join(copy, rel);
          };

          test("a pushed tree cloned elsewhere is identical to the byte", async () => {
            await using p = await pair({ "one.txt": "1", "sub/two.bin": "\u0000\u00ff binary", empty: "" });
            expect(snapshot(p.b)).toEqual(snapshot(p.a));
            expect(snapshot(await held(p))).toEqual(snapshot(p.a));
            expect((await cli(p.b, ["status", "--json"])).stdout).toBe('{"added":[],"modified":[],"deleted":[]}\n');
          });

          test("edits to different files on two machines both land, in either order", async () => {
            await using p = await pair({ x: "x0", y: "y0" });
            writeFile(p.a, "d/x", "x from A");
            writeFile(p.b, "d/y", "y from B");
            expect((await cliJson<Json>(p.b, ["push"])).transferred).toEqual(["d/y"]);
            expect((await cliJson<Json>(p.a, ["push"])).transferred).toEqual(["d/x"]);
            await cli(p.a, ["pull"]);
            await cli(p.b, ["pull"]);
            expect(snapshot(p.a)).toEqual(snapshot(p.b));
            expect(readFileSync(join(p.a, "d/y"), "utf8")).toBe("y from B");
            expect(readFileSync(join(p.b, "d/x"), "utf8")).toBe("x from A");
          });

          test("the same file edited on both: first push wins, second is refused naming it, keep-both resolves", async () => {
            await using p = await pair({ z: "base" });
            writeFile(p.a, "d/z", "A's edit");
            writeFile(p.b, "d/z", "B's edit");
            await cli(p.a, ["push"]);
            const refused = await runCli(p.b, ["push"]);
            expect(refused.stderr).toContain("push refused: 1 file changed on the server since your last pull, nothing was changed:\n  d/z\n");
            expect(refused.code).toBe(3);
            expect((await cliJson<Json>(p.b, ["push"], 3)).conflicts).toEqual(["d/z"]);
            expect(readFileSync(join(p.b, "d/z"), "utf8")).toBe("B's edit");
            expect(readFileSync(await held(p, "d/z"), "utf8")).toBe("A's edit");

            const plain = await runCli(p.b, ["pull"]);
            expect(plain.code).toBe(3);
            expect(plain.stderr).toContain("conflict: d/z changed here and on the server");
            expect(readFileSync(join(p.b, "d/z"), "utf8")).toBe("B's edit");

            const kept = await cliJson<Json>(p.b, ["pull", "--keep-both"]);
            expect(kept.conflicts).toEqual([]);
            expect(readFileSync(join(p.b, "d/z"), "utf8")).toBe("A's edit");
            const copies = readdirSync(join(p.b, "d")).filter((n) => n.startsWith("z.conflict-"));
            expect(copies.length).toBe(1);
            expect(copies[0]).toMatch(/^z\.conflict-[A-Za-z0-9_-]+-\d{8}-\d{6}$/);
            expect(readFileSync(join(p.b, "d", copies[0] as string), "utf8")).toBe("B's edit");
            expect(await cliJson(p.b, ["status"])).toEqual({ added: [], modified: [], deleted: [] });

            writeFile(p.b, "d/z", "merged by B");
            expect((await cliJson<Json>(p.b, ["push"])).transferred).toEqual(["d/z"]);
            await cli(p.a, ["pull"]);
            expect(readFileSync(join(p.a, "d/z"), "utf8")).toBe("merged by B");
          });

          test("a pushed deletion removes the file from the store and from clean trees, never from a modified one", async () => {
            await using p = await pair({ w: "w", v: "v", "gone/only": "o", keep: "k" });
            rmSync(join(p.a, "d/w"));
            rmSync(join(p.a, "d/gone"), { recursive: true });
            expect((await cliJson<Json>(p.a, ["push"])).deleted).toEqual(["d/gone/only", "d/w"]);
            expect(readdirSync(await held(p, "d")).sort()).toEqual(["keep", "v"]);
            expect((await cliJson<Json>(p.b, ["pull"])).deleted).toEqual(["d/gone/only", "d/w"]);
            expect(readdirSync(join(p.b, "d")).sort()).toEqual(["keep", "v"]);

            rmSync(join(p.a, "d/v"));
            await cli(p.a, ["push"]);
            writeFile(p.b, "d/v", "B still needs this");
            expect((await cliJson<Json>(p.b, ["pull"], 3)).conflicts).toEqual(["d/v"]);
            expect(readFileSync(join(p.b, "d/v"), "utf8")).toBe("B still needs this");
          });

          test("names that break naive tools round-trip through push and pull", async () => {
            const names = [
              "with space",
              'say "hi"',
              "new\nline",
              "-e sh",
              "--rsync-path=x",
              "\u{1F600}",
              "e\u0301",
              "\u00e9",
              "n".repeat(255),
              `${"deep/".repeat(30)}f`,
            ];
            await using p = await pair(Object.fromEntries(names.map((n) => [n, `content of ${n}`])));
            expect(snapshot(p.b)).toEqual(snapshot(p.a));
            expect(Object.keys(snapshot(p.b)).length).toBe(names.length);
            writeFile(p.b, "d/new\nline", "edited from B");
            await cli(p.b, ["push"]);
            expect((await cliJson<Json>(p.a, ["pull"])).transferred).toEqual(["d/new\nline"]);
            expect(readFileSync(join(p.a, "d/new\nline"), "utf8")).toBe("edited from B");
          });

          test("tracked roots travel: a clone tracks the same directories and picks up new files there", async () => {
            await using p = await pair({ a: "a" });
            writeFile(p.b, "d/brand-new", "n");
            expect((await cliJson<{ added: string[] }>(p.b, ["status"])).added).toEqual(["d/brand-new"]);
            writeFile(p.a, "top.txt", "t");
            await cli(p.a, ["add", "top.txt"]);
            await cli(p.a, ["push"]);
            await cli(p.b, ["pull"]);
            expect(readFileSync(join(p.b, "top.txt"), "utf8")).toBe("t");
            writeFile(p.b, "top.txt", "t2");
            expect((await cliJson<{ modified: string[] }>(p.b, ["status"])).modified).toEqual(["top.txt"]);
          });

          test("nothing to push: says so, exits 0 and never asks for a staging area", async () => {
            await using p = await pair({ a: "a" });
            const before = p.server.log().split("/v1/push/begin").length;
            expect((await cli(p.a, ["push"])).stdout).toBe("up to date: nothing to push\n");
            expect(p.server.log().split("/v1/push/begin").length).toBe(before);
          });

          test("a permission-only change reaches the other tree, +x and -x, and leaves it clean", async () => {
            await using p = await pair({ "run.sh": "echo hi\n", other: "o" });
            const modeIn = (top: string) => statSync(join(top, "d/run.sh")).mode & 0o777;
            for (const mode of [0o755, 0o644]) {
              chmodSync(join(p.a, "d/run.sh"), mode);
              expect((await cliJson<Json>(p.a, ["push"])).transferred).toEqual(["d/run.sh"]);
              await cli(p.b, ["pull"]);
              expect([modeIn(p.b), modeIn(await held(p))]).toEqual([mode, mode]);
              expect(JSON.parse((await cli(p.b, ["status", "--json"])).stdout)).toEqual({ added: [], modified: [], deleted: [] });
            }
          });

          test("a touched file is clean after a push, and the next status hashes nothing", async () => {
            await using p = await pair({ t: "same" });
            const past = new Date(Date.now() - 3600_000);
            utimesSync(join(p.a, "d/t"), past, past);
            const first = await cli(p.a, ["status", "-v", "--json"]);
            expect([first.stdout, first.stderr]).toEqual(['{"added":[],"modified":[],"deleted":[]}\n', "scanned 1 file, hashed 1\n"]);
            const second = await cli(p.a, ["status", "-v", "--json"]);
            expect(second.stderr).toBe("scanned 1 file, hashed 0\n");
          });
        });
      },
      // A node with a cache: the transports that read views of it and send against a basis (http reads the bucket).
      table.name === "sqlite" ? undefined : table.cache ? ["tunnel", "ssh"] : ["tunnel", "http"],
    );
  },
  { objectStore: true },
);
