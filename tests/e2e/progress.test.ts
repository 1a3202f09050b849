import { describe, expect, test } from "bun:test";
import { randomFillSync } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, runCliOnTerminal } from "../_harness/cli.ts";
import { tempDir } from "../_harness/fs.ts";
import { startServer } from "../_harness/server.ts";

const FILES = 10;
const FILE_BYTES = 5 * 1024 * 1024;

/** Gives every file of the ~50 MiB tree under `top/d` fresh random content (so a push sends it all). */
function rewriteTree(top: string): void {
  mkdirSync(join(top, "d"), { recursive: true });
  const buf = Buffer.alloc(FILE_BYTES);
  for (let i = 0; i < FILES; i++) writeFileSync(join(top, "d", `f${i}.bin`), randomFillSync(buf));
}

const PROGRESS = /sending|receiving|scanning|hashed|verifying|\bsent\b|received/;

/** A server and a tree `a` whose d/ holds ~50 MiB of fresh content, tracked, not yet pushed. */
async function trackedTree() {
  await using stack = new AsyncDisposableStack();
  const server = stack.use(await startServer());
  const dir = stack.use(tempDir());
  const a = join(dir.path, "a");
  rewriteTree(a);
  await cli(a, ["init", server.url]);
  await cli(a, ["add", "-r", "d"]);
  const owned = stack.move();
  return { server, dir: dir.path, a, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

describe("progress on a terminal", () => {
  test("push draws a bar in place on stderr and ends with the totals; NO_COLOR keeps it plain", async () => {
    await using t = await trackedTree();
    const { shown, code } = await runCliOnTerminal(t.a, ["push"]);
    expect(code).toBe(0);
    expect(shown).toMatch(/\rsending \[[#-]+\] +\d+% +[\d.]+ (B|KiB|MiB) \/ 50\.0 MiB/);
    expect(shown).toMatch(/\rsent 50\.0 MiB in [\d.]+ s \([\d.]+ (KiB|MiB|GiB)\/s\)\r\n/);
    expect(shown).toContain(`hashed ${FILES} files in `);
    expect(shown).toEndWith("pushed 10 files, deleted 0: now at revision 1\r\n");
    expect(shown).not.toContain("\x1b");
  });

  test("without NO_COLOR the bar is coloured", async () => {
    await using t = await trackedTree();
    const { shown, code } = await runCliOnTerminal(t.a, ["push"], { env: { NO_COLOR: undefined } });
    expect(code).toBe(0);
    expect(shown).toContain("sending [\x1b[36m");
    expect(shown).toMatch(/sent 50\.0 MiB in /);
  });

  test("pull shows the download and its totals", async () => {
    await using t = await trackedTree();
    await cli(t.a, ["push"]);
    const b = join(t.dir, "b");
    const { shown, code } = await runCliOnTerminal(t.dir, ["clone", t.server.url, b]);
    expect(code).toBe(0);
    expect(shown).toMatch(/\rreceiving \[[#-]+\]/);
    expect(shown).toMatch(/\rreceived 50\.0 MiB in [\d.]+ s/);
    expect(shown).toEndWith(`cloned into ${b} revision 1: 10 files updated, 0 deleted\r\n`);
  });

  test("nothing of it when stdout is piped", async () => {
    await using t = await trackedTree();
    expect(await runCliOnTerminal(t.a, ["push"], { shell: '"$@" | cat' })).toEqual({
      shown: "pushed 10 files, deleted 0: now at revision 1\r\n",
      code: 0,
    });
  });

  test("nothing of it when stderr is not the terminal", async () => {
    await using t = await trackedTree();
    const errFile = join(t.dir, "stderr.txt");
    const redirected = await runCliOnTerminal(t.a, ["push"], { shell: '"$@" 2>"$ERR_FILE"', env: { ERR_FILE: errFile } });
    expect(redirected).toEqual({ shown: "pushed 10 files, deleted 0: now at revision 1\r\n", code: 0 });
    expect(readFileSync(errFile, "utf8")).toBe("");
  });

  test("nothing of it with --quiet", async () => {
    await using t = await trackedTree();
    expect(await runCliOnTerminal(t.a, ["push", "--quiet"])).toEqual({ shown: "", code: 0 });
  });

  test("nothing of it with --json", async () => {
    await using t = await trackedTree();
    const json = await runCliOnTerminal(t.a, ["push", "--json"]);
    expect(json.code).toBe(0);
    expect(json.shown).not.toMatch(PROGRESS);
    expect(JSON.parse(json.shown)).toMatchObject({ revision: 1, deleted: [], conflicts: [] });
  });
});
