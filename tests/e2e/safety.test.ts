import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, chownSync, closeSync, cpSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { md5Bytes, md5File } from "../../lib/shared/hash.ts";
import { CLI, cli, NOBODY, runCli, runCliAsNobody } from "../_harness/cli.ts";
import { snapshot, tempDir, writeFile, writeTree } from "../_harness/fs.ts";
import { holdLock } from "../_harness/lock.ts";
import { killGroup, waitFor } from "../_harness/proc.ts";
import { startServer } from "../_harness/server.ts";
import { pointAt, pushedTree, serverAndPushedTree } from "../_harness/working-trees.ts";
import { overEveryTransport } from "../_harness/transports.ts";

async function changes(url: string, token?: string): Promise<unknown> {
  const res = await fetch(`${url}/v1/changes?since=0`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return res.json();
}

/** Found before a transport's PATH (http: bun alone) is in force. */
const SETSID = Bun.which("setsid") as string;

overEveryTransport((transport) =>
  describe(`an interrupted push over ${transport.name}`, () => {
    beforeAll(() => transport.start());
    afterAll(() => transport.stop());
    test("SIGKILL during its transfer leaves the server's table and store exactly as before; the next push completes", async () => {
      await using server = await startServer();
      using dir = tempDir();
      const a = await pushedTree(server.url, dir.path, { small: "s" }, transport.initArgs());
      const tableBefore = await changes(server.url);
      const storeBefore = snapshot(server.store);
      const block = crypto.getRandomValues(new Uint8Array(1 << 20));
      const fd = openSync(join(a, "d/big"), "w");
      for (let i = 0; i < 400; i++) writeSync(fd, block);
      closeSync(fd);
      writeFileSync(join(a, "d/small"), "edited");

      // setsid: the push and its rsync form one process group, killed together.
      const proc = Bun.spawn([SETSID, "bun", CLI, "push"], { cwd: a, env: process.env, stdout: "ignore", stderr: "ignore" });
      await using _push = { [Symbol.asyncDispose]: () => killGroup(proc) };
      // rsync writes into the stage; the http transport into an upload (content-addressed, out of any stage).
      const into = [join(server.stateDir, "stage"), join(server.stateDir, "uploads")];
      const staged = () => into.some((dir) => existsSync(dir) && readdirSync(dir, { recursive: true }).some((p) => /big|\.part$/.test(String(p))));
      await waitFor(staged, "the upload to start arriving");
      await killGroup(proc);

      expect(await changes(server.url)).toEqual(tableBefore);
      expect(snapshot(server.store)).toEqual(storeBefore);
      await cli(a, ["push"]);
      expect(md5File(join(server.store, "d/big"))).toBe(md5File(join(a, "d/big")));
      expect(await Bun.file(join(server.store, "d/small")).text()).toBe("edited");
    });
  }),
);

describe("a push refused before its commit reaches the server", () => {
  test("a proxy's 413: the client drops its stage at once (/v1/push/abort) instead of leaving it for a day", async () => {
    await using server = await startServer();
    using dir = tempDir();
    // A reverse proxy with a body limit below the commit's size, as nginx's client_max_body_size.
    using proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request) {
        const url = new URL(request.url);
        if (url.pathname === "/v1/push/commit") return new Response("<html>413 Request Entity Too Large</html>", { status: 413 });
        return fetch(`${server.url}${url.pathname}${url.search}`, { method: request.method, headers: request.headers, body: request.body });
      },
    });
    const proxied = `http://127.0.0.1:${proxy.port}`;
    const a = await pushedTree(server.url, dir.path, { f: "1" }, ["--transport", "local"]);
    pointAt(a, proxied);
    writeFileSync(join(a, "d/f"), "2");
    const res = await runCli(a, ["push"]);
    expect([res.stderr, res.code]).toEqual([
      `error: a proxy in front of the soc server at ${proxied} refused a request as too large (HTTP 413); soc's requests stay under 1 MiB: raise the proxy's limit (nginx: client_max_body_size 1m)\n`,
      4,
    ]);
    expect(server.log()).toContain("POST /v1/push/abort 200");
    expect(readdirSync(join(server.stateDir, "stage"))).toEqual([]);
    expect(readFileSync(join(server.store, "d/f"), "utf8")).toBe("1");
  });
});

describe("auth through the CLI", () => {
  test("no token, a wrong token: exit 4 naming the problem, nothing recorded; the right one works", async () => {
    await using server = await startServer({ token: "s3cret" });
    using dir = tempDir();
    for (const args of [[], ["--token", "wrong"]]) {
      const res = await runCli(dir.path, ["init", server.url, ...args]);
      expect(res.stderr).toStartWith(`error: unauthorized: the soc server at ${server.url} refused the token`);
      expect(res.code).toBe(4);
      expect(existsSync(join(dir.path, ".soc"))).toBe(false);
    }
    const a = await pushedTree(server.url, dir.path, { small: "s" }, ["--token", "s3cret"]);
    expect(Object.keys(snapshot(server.store))).toEqual(["d/small"]);
    const overridden = await runCli(a, ["pull"], { SOC_TOKEN: "wrong" });
    expect([overridden.stderr.startsWith("error: unauthorized"), overridden.code]).toEqual([true, 4]);
    expect(server.log()).not.toContain("s3cret");
  });

  test("an unreachable server: exit 4 naming the URL", async () => {
    using dir = tempDir();
    const res = await runCli(dir.path, ["init", "http://127.0.0.1:9"]);
    expect(res.stderr).toStartWith("error: cannot reach the soc server at http://127.0.0.1:9:");
    expect(res.code).toBe(4);
  });
});

describe("the lock", () => {
  test("a second run (push, pull, add, rm) exits 5 at once naming the holder; --wait waits for the holder to finish", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { small: "s" });
    await using holder = await holdLock(join(a, ".soc/lock"));
    const { pid, since } = JSON.parse(readFileSync(join(a, ".soc/lock"), "utf8")) as { pid: number; since: string };
    expect(pid).toBe(holder.pid);
    for (const args of [["push"], ["pull"], ["push", "--wait", "0.2"], ["add", "d/small"], ["rm", "d/small"]]) {
      const res = await runCli(a, args);
      const last = res.stderr.split("\n").at(-2); // --wait first says it waits
      expect([args, last, res.code]).toEqual([
        args,
        `error: another soc run holds the lock: pid ${pid} on ${hostname()} since ${since} (${a}/.soc/lock); try again later or pass --wait SECONDS`,
        5,
      ]);
    }
    await using waiting = Bun.spawn(["bun", CLI, "pull", "--wait", "120"], { cwd: a, env: process.env, stdout: "pipe", stderr: "pipe" });
    const reader = waiting.stderr.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe(`warning: waiting up to 120s for the lock held by pid ${pid} on ${hostname()} since ${since}\n`);
    holder.kill("SIGKILL"); // however a holder ends, the lock ends with it
    expect(await waiting.exited).toBe(0);
    const bad = await runCli(a, ["push", "--wait", "soon"]);
    expect([bad.stderr, bad.code]).toEqual(['error: --wait takes a number of seconds, got "soon"\n', 2]);
  });

  test("a lock file left by a dead run, or naming a live process that does not hold it, is no obstacle", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { small: "s" });
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    for (const pid of [dead.pid, process.pid]) {
      writeFileSync(join(a, ".soc/lock"), JSON.stringify({ pid, host: hostname(), since: new Date().toISOString() }));
      writeFileSync(join(a, "d/small"), `after a crash of ${pid}`);
      await cli(a, ["push"]);
      expect(readFileSync(join(a, ".soc/lock"), "utf8")).toBe(""); // released: it names nobody
    }
  });
});

describe("a nested .soc", () => {
  test("a pull refuses a row that would plant sub/.soc/config.json, naming it, and writes nothing", async () => {
    await using t = await serverAndPushedTree({ small: "s" });
    const planted = JSON.stringify({ remote: { url: "http://attacker.example", transport: "tunnel" } });
    // A server that lets such a row through (an old one, or a doctored table): write it behind the API's back.
    writeFile(t.server.store, "d/sub/.soc/config.json", planted);
    using db = new Database(join(t.server.stateDir, "soc.db"));
    db.run("INSERT INTO revisions (rev, at_ms, client, added, modified, deleted) VALUES (2, 0, 'x', 1, 0, 0)");
    db.run("INSERT INTO files (path, size, mtime_ns, md5, mode, rev, deleted) VALUES (?, ?, 0, ?, 420, 2, 0)", [
      "d/sub/.soc/config.json",
      planted.length,
      md5Bytes(planted),
    ]);
    const res = await runCli(t.a, ["pull"]);
    expect([res.stderr, res.code]).toEqual([`error: bad path "d/sub/.soc/config.json": contains ".soc", which holds soc's own state\n`, 1]);
    expect(existsSync(join(t.a, "d/sub"))).toBe(false);
  });
});

describe("unreadable is not deleted", () => {
  test("a chmod 000 file and a chmod 000 directory: status lists them as unreadable; push exits 1 naming them and sends nothing", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = join(dir.path, "a");
    writeTree(join(a, "d"), { "secret.txt": "s", "locked/inner.txt": "i", "open.txt": "o" });
    chmodSync(dir.path, 0o755);
    for (const p of ["", "d", "d/secret.txt", "d/locked", "d/locked/inner.txt", "d/open.txt"]) chownSync(join(a, p), NOBODY.uid, NOBODY.gid);
    const asNobody = async (args: string[], code = 0) => {
      const res = await runCliAsNobody(a, args);
      expect([args, res.stderr, res.code]).toEqual([args, expect.any(String), code]);
      return res;
    };
    await asNobody(["init", server.url]);
    await asNobody(["add", "-r", "d"]);
    await asNobody(["push"]);
    const storeBefore = snapshot(server.store);
    chmodSync(join(a, "d/secret.txt"), 0o000);
    chmodSync(join(a, "d/locked"), 0o000);
    writeFileSync(join(a, "d/open.txt"), "edited");

    const unreadable = [
      { path: "d/locked/inner.txt", error: "EACCES" },
      { path: "d/secret.txt", error: "EACCES" },
    ];
    expect(JSON.parse((await asNobody(["status", "--json"])).stdout)).toEqual({ added: [], modified: ["d/open.txt"], deleted: [], unreadable });
    expect((await asNobody(["status"])).stdout).toStartWith(
      "M d/open.txt\n! d/locked/inner.txt (cannot read: EACCES)\n! d/secret.txt (cannot read: EACCES)\n",
    );
    const push = await asNobody(["push"], 1);
    expect(push.stderr).toBe(
      `warning: cannot read directory ${a}/d/locked: EACCES: permission denied, scandir '${a}/d/locked'\n` +
        "error: cannot read 2 tracked files, so nothing was pushed:\n  d/locked/inner.txt: EACCES\n  d/secret.txt: EACCES\n" +
        "fix their permissions (or `soc rm` them), then push again\n",
    );
    expect(snapshot(server.store)).toEqual(storeBefore);
    chmodSync(join(a, "d/locked"), 0o755);
    chmodSync(join(a, "d/secret.txt"), 0o644);
    await asNobody(["push"]);
    expect(snapshot(server.store)).toEqual(snapshot(a));
  });
});

describe("a replaced or restored server", () => {
  /** Points the working tree at `url`, as when a server comes back at the same address. */
  const stopped = (url: string, why: string) =>
    `error: the server at ${url} is not the one this tree last synced with: ${why}. Nothing was sent. To sync with it as it is now, ` +
    "run `soc pull --reattach`: a file that differs from the server's is kept beside it as a conflict copy, nothing is overwritten or deleted\n";

  test("a fresh server at the same address: push and pull stop (exit 4) and send nothing; pull --reattach keeps both, and no file is deleted", async () => {
    await using t = await serverAndPushedTree({ x: "x0", y: "y0" });
    await using fresh = await startServer();
    await pushedTree(fresh.url, join(t.dir, "other"), { x: "x from the new server" });
    const freshStore = snapshot(fresh.store);
    const [oldId, newId] = await Promise.all(
      [t.server.url, fresh.url].map(async (u) => ((await (await fetch(`${u}/v1/info`)).json()) as { database: string }).database),
    );
    pointAt(t.a, fresh.url);
    writeFileSync(join(t.a, "d/y"), "y1");
    for (const verb of ["push", "pull"]) {
      const res = await runCli(t.a, [verb]);
      expect([res.stderr, res.code]).toEqual([stopped(fresh.url, `its database is another one (id ${newId}; this tree synced with ${oldId})`), 4]);
    }
    expect(snapshot(fresh.store)).toEqual(freshStore);

    const reattached = await runCli(t.a, ["pull", "--reattach", "--json"]);
    expect(reattached.code).toBe(0);
    const { keptBoth } = JSON.parse(reattached.stdout) as { keptBoth: string[] };
    expect(keptBoth).toEqual([expect.stringMatching(/^d\/x\.conflict-.*-\d{8}-\d{6}$/)]);
    expect([readFileSync(join(t.a, "d/x"), "utf8"), readFileSync(join(t.a, keptBoth[0] as string), "utf8")]).toEqual(["x from the new server", "x0"]);
    const push = JSON.parse((await cli(t.a, ["push", "--json"])).stdout) as { transferred: string[]; deleted: string[] };
    expect([push.transferred, push.deleted]).toEqual([["d/y"], []]);
    expect(readFileSync(join(fresh.store, "d/y"), "utf8")).toBe("y1");
  });

  test("a revision this tree made by deleting alone counts too: a backup from before it stops push", async () => {
    using dir = tempDir();
    const [root, backup] = [join(dir.path, "server"), join(dir.path, "backup")];
    let server = await startServer({ root });
    const a = await pushedTree(server.url, dir.path, { f: "1", g: "1" });
    await server[Symbol.asyncDispose]();
    cpSync(root, backup, { recursive: true });
    server = await startServer({ root });
    pointAt(a, server.url);
    rmSync(join(a, "d/g"));
    await cli(a, ["push"]);
    await server[Symbol.asyncDispose]();
    rmSync(root, { recursive: true });
    cpSync(backup, root, { recursive: true });
    await using restored = await startServer({ root });
    pointAt(a, restored.url);
    writeFileSync(join(a, "d/f"), "2");
    const res = await runCli(a, ["push"]);
    expect([res.stderr, res.code]).toEqual([
      stopped(restored.url, "it is at revision 1, behind the 2 this tree last synced with (restored from an older backup?)"),
      4,
    ]);
  });

  test("a server restored from an older backup (its head behind this tree's) stops push and pull too", async () => {
    using dir = tempDir();
    const [root, backup] = [join(dir.path, "server"), join(dir.path, "backup")];
    let server = await startServer({ root });
    const a = await pushedTree(server.url, dir.path, { f: "1" });
    await server[Symbol.asyncDispose]();
    cpSync(root, backup, { recursive: true });
    server = await startServer({ root });
    pointAt(a, server.url);
    writeFileSync(join(a, "d/f"), "2");
    await cli(a, ["push"]);
    await server[Symbol.asyncDispose]();
    rmSync(root, { recursive: true });
    cpSync(backup, root, { recursive: true });
    await using restored = await startServer({ root });
    pointAt(a, restored.url);
    writeFileSync(join(a, "d/f"), "3");
    for (const verb of ["push", "pull"]) {
      const res = await runCli(a, [verb]);
      expect([res.stderr, res.code]).toEqual([
        stopped(restored.url, "it is at revision 1, behind the 2 this tree last synced with (restored from an older backup?)"),
        4,
      ]);
    }
    expect(readFileSync(join(restored.store, "d/f"), "utf8")).toBe("1");
    expect((await runCli(a, ["pull", "--reattach"])).code).toBe(0);
    expect(readFileSync(join(a, "d/f"), "utf8")).toBe("1");
    expect(
      readdirSync(join(a, "d"))
        .filter((n) => n.startsWith("f.conflict-"))
        .map((n) => readFileSync(join(a, "d", n), "utf8")),
    ).toEqual(["3"]);
  });
});
