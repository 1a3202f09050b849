import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, runCli, snapshot, startServer, tempDir } from "../helpers.ts";

function write(top: string, rel: string, content: string): void {
  mkdirSync(join(top, rel, ".."), { recursive: true });
  writeFileSync(join(top, rel), content);
}

/** A server and a tree whose d/ holds `files`, tracked and pushed. */
async function pushed(files: Record<string, string>) {
  const server = await startServer();
  const dir = tempDir();
  const a = join(dir.path, "a");
  for (const [p, c] of Object.entries(files)) write(a, `d/${p}`, c);
  await cli(a, ["init", server.url]);
  await cli(a, ["add", "-r", "d"]);
  await cli(a, ["push"]);
  return {
    server,
    a,
    dir: dir.path,
    [Symbol.asyncDispose]: async () => {
      await server[Symbol.asyncDispose]();
      dir[Symbol.dispose]();
    },
  };
}

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
    for (const name of ["CON.txt", "lpt1", "a:b", "q?", "trail.", "space ", "Readme", "README", "e\u0301", "\u00e9", "fine.txt"]) write(dir.path, `d/${name}`, "x");
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
    await using t = await pushed({ a: "1", b: "2", "sub/c": "3" });
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
});

describe("verify", () => {
  test("finds a tracked file whose content changed behind soc's back with its mtime restored", async () => {
    await using t = await pushed({ ok: "fine", bad: "original content" });
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
