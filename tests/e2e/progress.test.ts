import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomFillSync } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT, startServer, tempDir, type TestServer } from "../helpers.ts";

const FILES = 10;
const FILE_BYTES = 5 * 1024 * 1024;

/** Gives every file of the ~50 MiB tree under `top/d` fresh random content (so a push sends it all). */
function rewriteTree(top: string): void {
  mkdirSync(join(top, "d"), { recursive: true });
  const buf = Buffer.alloc(FILE_BYTES);
  for (let i = 0; i < FILES; i++) writeFileSync(join(top, "d", `f${i}.bin`), randomFillSync(buf));
}

/**
 * Runs `soc ...args` in `cwd` on a pseudo-terminal (Bun's own PTY: stdin, stdout and stderr are
 * the terminal) and returns everything the terminal showed. `shell` wraps the command line, e.g.
 * `"$@" | cat` to pipe stdout while stderr stays the terminal.
 */
async function onTerminal(cwd: string, args: string[], opts: { env?: Record<string, string | undefined>; shell?: string } = {}) {
  let shown = "";
  const decoder = new TextDecoder();
  const { promise: closed, resolve } = Promise.withResolvers<void>();
  const proc = Bun.spawn(["sh", "-c", opts.shell ?? '"$@"', "sh", "bun", join(ROOT, "cli.ts"), ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    terminal: {
      cols: 100,
      rows: 30,
      data: (_term, data) => {
        shown += decoder.decode(data, { stream: true });
      },
      exit: () => resolve(),
    },
  });
  const code = await proc.exited;
  await closed;
  proc.terminal?.close();
  return { shown, code };
}

const PROGRESS = /sending|receiving|scanning|hashed|verifying|\bsent\b|received/;

describe("progress on a terminal", () => {
  let server: TestServer;
  const dir = tempDir();
  const a = join(dir.path, "a");
  beforeAll(async () => {
    server = await startServer();
    mkdirSync(a);
    rewriteTree(a);
    await cli(a, ["init", server.url]);
    await cli(a, ["add", "-r", "d"]);
  });
  afterAll(async () => {
    await server[Symbol.asyncDispose]();
    dir[Symbol.dispose]();
  });

  test("push draws a bar in place on stderr and ends with the totals; NO_COLOR keeps it plain", async () => {
    const { shown, code } = await onTerminal(a, ["push"]);
    expect(code).toBe(0);
    expect(shown).toMatch(/\rsending \[[#-]+\] +\d+% +[\d.]+ (B|KiB|MiB) \/ 50\.0 MiB/);
    expect(shown).toMatch(/\rsent 50\.0 MiB in [\d.]+ s \([\d.]+ (KiB|MiB|GiB)\/s\)\r\n/);
    expect(shown).toContain(`hashed ${FILES} files in `);
    expect(shown).toEndWith("pushed 10 files, deleted 0: now at revision 1\r\n");
    expect(shown).not.toContain("\x1b");
  });

  test("without NO_COLOR the bar is coloured", async () => {
    rewriteTree(a);
    const { shown, code } = await onTerminal(a, ["push"], { env: { NO_COLOR: undefined } });
    expect(code).toBe(0);
    expect(shown).toContain("sending [\x1b[36m");
    expect(shown).toMatch(/sent 50\.0 MiB in /);
  });

  test("pull shows the download and its totals", async () => {
    const b = join(dir.path, "b");
    const { shown, code } = await onTerminal(dir.path, ["clone", server.url, b]);
    expect(code).toBe(0);
    expect(shown).toMatch(/\rreceiving \[[#-]+\]/);
    expect(shown).toMatch(/\rreceived 50\.0 MiB in [\d.]+ s/);
    expect(shown).toEndWith(`cloned into ${b} revision 2: 10 files updated, 0 deleted\r\n`);
  });

  test("nothing of it when stdout is piped", async () => {
    rewriteTree(a);
    expect(await onTerminal(a, ["push"], { shell: '"$@" | cat' })).toEqual({ shown: "pushed 10 files, deleted 0: now at revision 3\r\n", code: 0 });
  });

  test("nothing of it when stderr is not the terminal", async () => {
    rewriteTree(a);
    const errFile = join(dir.path, "stderr.txt");
    const redirected = await onTerminal(a, ["push"], { shell: '"$@" 2>"$ERR_FILE"', env: { ERR_FILE: errFile } });
    expect(redirected).toEqual({ shown: "pushed 10 files, deleted 0: now at revision 4\r\n", code: 0 });
    expect(readFileSync(errFile, "utf8")).toBe("");
  });

  test("nothing of it with --quiet", async () => {
    rewriteTree(a);
    expect(await onTerminal(a, ["push", "--quiet"])).toEqual({ shown: "", code: 0 });
  });

  test("nothing of it with --json", async () => {
    rewriteTree(a);
    const json = await onTerminal(a, ["push", "--json"]);
    expect(json.code).toBe(0);
    expect(json.shown).not.toMatch(PROGRESS);
    expect(JSON.parse(json.shown)).toMatchObject({ revision: 6, deleted: [], conflicts: [] });
  });
});
