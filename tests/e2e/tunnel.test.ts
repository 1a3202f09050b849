import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tunnelUrl } from "../../lib/client/tunnel.ts";
import { upsertOf } from "../_harness/upserts.ts";
import { snapshot, tempDir, writeTree } from "../_harness/fs.ts";
import { beginPush, startServer, type TestServer } from "../_harness/server.ts";
import { rsyncViaTunnel } from "../_harness/tunnel.ts";

const TOKEN = "tunnel-e2e-token";
const NAMES = ["new\nline", "-e sh", "--rsync-path=x", "with spaces", "ünïcødé ✓", "sub/dir/deep.txt", "quote'\"$x\\y*?[a]"];

/**
 * A server with a token that runs a logging wrapper as "rsync", so a test sees exactly what it
 * spawns (or that it spawned nothing); `await using` stops it and removes its directory.
 */
async function loggingServer() {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(tempDir()).path;
  const spawnLog = join(dir, "spawned.log");
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin/rsync"), `#!/bin/sh\nprintf 'rsync %s\\n' "$*" >> '${spawnLog}'\nexec ${Bun.which("rsync")} "$@"\n`);
  chmodSync(join(dir, "bin/rsync"), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${join(dir, "bin")}:${path}`;
  let server: TestServer;
  try {
    server = stack.use(await startServer({ token: TOKEN }));
  } finally {
    process.env.PATH = path;
  }
  const spawned = () => (Bun.file(spawnLog).size ? readFileSync(spawnLog, "utf8") : "").split("\n").filter(Boolean);
  const owned = stack.move();
  return { server, dir, spawned, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

async function commit(server: TestServer, stage: string, files: Record<string, string>): Promise<void> {
  const upserts = Object.entries(files).map(([path, content]) => upsertOf(path, content, 0, { mtimeNs: "1700000000000000000" }));
  const body = { stage, client: "test", upserts, deletes: [], roots: { set: [], remove: [] } };
  const res = await fetch(`${server.url}/v1/push/commit`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
}

describe("rsync through the tunnel", () => {
  test("uploads odd names into a stage, and downloads them from the store after a commit", async () => {
    await using t = await loggingServer();
    const { server } = t;
    using work = tempDir();
    const files = Object.fromEntries(NAMES.map((n) => [n, `content of ${n}\n`]));
    writeTree(join(work.path, "src"), files);
    const stage = await beginPush(server, TOKEN);
    const up = await rsyncViaTunnel(server, TOKEN, [`${work.path}/src/`, `soc:stage/${stage}/`], NAMES).result;
    expect(up).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(snapshot(join(server.stateDir, "stage", stage))).toEqual(snapshot(join(work.path, "src")));
    expect(t.spawned().at(-1)).toBe(
      `rsync --server -tpIRe.LsfxCIvu --munge-links --confine-root=${join(server.store, "..")} --drop-D --copy-dest=${server.store} -- . ${join(server.stateDir, "stage", stage)}/`,
    );
    await commit(server, stage, files);

    mkdirSync(join(work.path, "dest"));
    const down = await rsyncViaTunnel(server, TOKEN, ["soc:store/", `${work.path}/dest/`], NAMES).result;
    expect(down).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(snapshot(join(work.path, "dest"))).toEqual(snapshot(join(work.path, "src")));
    expect(t.spawned().at(-1)).toBe(
      `rsync --server --sender -tpIRe.LsfxCIvu --files-from=- --from0 --munge-links --confine-root=${server.store} -- . ${server.store}/`,
    );
  });

  test("an upload of content the store already has sends no file data (--copy-dest)", async () => {
    await using t = await loggingServer();
    const { server } = t;
    using work = tempDir();
    const big = Buffer.alloc(2 << 20, "soc").toString();
    writeTree(join(work.path, "src"), { "big.txt": big });
    const first = await beginPush(server, TOKEN);
    expect((await rsyncViaTunnel(server, TOKEN, [`${work.path}/src/`, `soc:stage/${first}/`], ["big.txt"]).result).code).toBe(0);
    await commit(server, first, { "big.txt": big });
    const again = await beginPush(server, TOKEN);
    const run = await rsyncViaTunnel(server, TOKEN, ["--stats", `${work.path}/src/`, `soc:stage/${again}/`], ["big.txt"]).result;
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Literal data: 0 bytes");
    expect(readFileSync(join(server.stateDir, "stage", again, "big.txt"), "utf8")).toBe(big);
  });

  test("a wrong or missing token: the tunnel says unauthorized, rsync fails, nothing changes", async () => {
    await using t = await loggingServer();
    const { server } = t;
    using work = tempDir();
    writeTree(join(work.path, "src"), { a: "a" });
    const before = snapshot(server.store);
    for (const token of ["wrong-token", undefined]) {
      const stage = await beginPush(server, TOKEN);
      const run = await rsyncViaTunnel(server, token, [`${work.path}/src/`, `soc:stage/${stage}/`], ["a"]).result;
      expect(run.stderr).toContain("soc tunnel: unauthorized: the server refused the token (set SOC_TOKEN to the server's token)\n");
      expect(run.code).not.toBe(0);
      expect(readdirSync(join(server.stateDir, "stage", stage))).toEqual([]);
    }
    expect(snapshot(server.store)).toEqual(before);
  });
});

describe("hostile sessions", () => {
  /** Opens the tunnel by hand, sends `argv` as the first frame, returns every text frame until close. */
  async function session(server: TestServer, argv: unknown): Promise<unknown[]> {
    const ws = new WebSocket(tunnelUrl(server.url), { headers: { Authorization: `Bearer ${TOKEN}` } });
    const frames: unknown[] = [];
    ws.onopen = () => ws.send(JSON.stringify(argv));
    ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
    await new Promise((resolve) => (ws.onclose = resolve));
    return frames;
  }

  test("each is refused with an error frame naming the problem, and no rsync is spawned", async () => {
    await using t = await loggingServer();
    const { server } = t;
    const stage = await beginPush(server, TOKEN);
    const outside = join(t.dir, "outside");
    mkdirSync(outside);
    symlinkSync(outside, join(server.store, "link"));
    const before = t.spawned().length;
    const cases: [string[], string][] = [
      [["--rsync-path=x"], "refused rsync option --rsync-path: it names a path or program on the server"],
      [["-e", "sh"], "refused rsync option -e: it names a path or program on the server"],
      [["-s"], "refused rsync option -s: it would hide the remaining options from the server's check"],
      [["--protect-args"], "refused rsync option --protect-args: it would hide the remaining options from the server's check"],
    ];
    for (const [opts, error] of cases) expect(await session(server, ["rsync", "--server", ...opts, ".", `stage/${stage}/`])).toEqual([{ error }]);
    const paths: [string, string][] = [
      ["../", 'refused path "../": ".." is not allowed'],
      ["/etc", 'refused path "/etc": absolute paths are not allowed'],
      [`stage/${stage}/../../x`, `refused path "stage/${stage}/../../x": ".." is not allowed`],
      ["store/", 'refused path "store/": the store changes only through a push commit; upload to "stage/<id>/"'],
      ["link/", 'refused path "link/": an upload writes to "stage/<id>/" only'],
    ];
    for (const [path, error] of paths) expect(await session(server, ["rsync", "--server", "-tpIRe.LsfxCIvu", ".", path])).toEqual([{ error }]);
    expect(await session(server, ["rsync", "--server", "--sender", "-tpIRe.LsfxCIvu", ".", "store/link/"])).toEqual([
      { error: 'refused path "store/link/": a download reads "store/" only' },
    ]);
    expect(t.spawned().length).toBe(before);
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(join(server.stateDir, "stage", stage))).toEqual([]);
  });

  test("a download naming a file through a symlink out of the store gets nothing from outside", async () => {
    await using t = await loggingServer();
    const { server } = t;
    using work = tempDir();
    const secret = join(t.dir, "secret");
    mkdirSync(secret);
    writeFileSync(join(secret, "key"), "do not leak");
    symlinkSync(secret, join(server.store, "escape"));
    mkdirSync(join(work.path, "dest"));
    const run = await rsyncViaTunnel(server, TOKEN, ["soc:store/", `${work.path}/dest/`], ["escape/key", "../secret/key"]).result;
    expect(run.stderr).toContain('escape/key" failed: Too many levels of symbolic links');
    expect(run.code).not.toBe(0);
    expect(snapshot(join(work.path, "dest"))).toEqual({});
    expect(statSync(join(secret, "key")).size).toBe(11);
  });
});
