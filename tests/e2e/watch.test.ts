import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createClient } from "../../lib/client/api.ts";
import { md5Bytes } from "../../lib/shared/hash.ts";
import { cli, runCli } from "../_harness/cli.ts";
import { tempDir, writeFile } from "../_harness/fs.ts";
import { freePort, run, waitFor } from "../_harness/proc.ts";
import { startServer } from "../_harness/server.ts";
import { startWatch } from "../_harness/watch.ts";
import { pushedTree, serverAndPushedTree } from "../_harness/working-trees.ts";

// `soc watch` with a real watcher, a real server and real rsync. Waits are generous and no
// timing is asserted: CI is a busy 2-core machine.

/** A server, tree A (d/ holding `files`, pushed) and tree B cloned from it, both watched. */
async function watchedPair(files: Record<string, string>, watchArgs: string[] = []) {
  await using stack = new AsyncDisposableStack();
  const { server, dir, a } = stack.use(await serverAndPushedTree(files));
  const b = join(dir, "b");
  await cli(dir, ["clone", server.url, b]);
  const wa = stack.use(await startWatch(a, watchArgs));
  const wb = stack.use(await startWatch(b, watchArgs));
  const owned = stack.move();
  const api = createClient(server.url, undefined);
  return { server, dir, a, b, wa, wb, api, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : undefined);

describe("soc watch", () => {
  test("an edit, a new nested directory and 1,000 new files on A arrive on B; B's pull pushes nothing back", async () => {
    await using p = await watchedPair({ "f.txt": "one" });
    writeFile(p.a, "d/f.txt", "two");
    writeFile(p.a, "d/new/deep/er/g.txt", "made with mkdir -p");
    for (let i = 0; i < 1_000; i++) writeFile(p.a, `d/bulk/b${i % 10}/f${i}.txt`, `bulk ${i}`);
    await waitFor(
      () =>
        read(join(p.b, "d/f.txt")) === "two" &&
        read(join(p.b, "d/new/deep/er/g.txt")) === "made with mkdir -p" &&
        read(join(p.b, "d/bulk/b9/f999.txt")) === "bulk 999",
      "B to get A's edits",
    );
    const head = (await p.api.info()).revision;
    // B's watcher saw its own pull write those files; a quiet spell and more later, still no new revision.
    await Bun.sleep(6_000);
    expect((await p.api.info()).revision).toBe(head);
    expect(p.wb.events().filter((e) => e.event === "push")).toEqual([]);
    expect(p.wb.events().some((e) => e.event === "pull" && e.revision === head)).toBe(true);
  });

  test("an editor's save (temp file renamed over), sed -i and a deletion: right content, no temp files, no spurious deletion", async () => {
    await using p = await watchedPair({ "doc.txt": "draft", "conf.ini": "x=1\n", "gone.txt": "bye" });
    writeFileSync(join(p.a, "d/.doc.txt.swp"), "final");
    renameSync(join(p.a, "d/.doc.txt.swp"), join(p.a, "d/doc.txt"));
    Bun.spawnSync(["sed", "-i", "s/x=1/x=2/", join(p.a, "d/conf.ini")]);
    rmSync(join(p.a, "d/gone.txt"));
    await waitFor(
      () => read(join(p.b, "d/doc.txt")) === "final" && read(join(p.b, "d/conf.ini")) === "x=2\n" && !existsSync(join(p.b, "d/gone.txt")),
      "B to get A's saves and deletion",
    );
    expect(readdirSync(join(p.b, "d")).sort()).toEqual(["conf.ini", "doc.txt"]);
    const log = await p.api.log({ path: "d/doc.txt" });
    expect(log.history?.map((h) => h.action)).toEqual(["modified", "added"]);
  });

  test("a symlink made, retargeted (ln -sfn) and removed on A: B follows it, as a link", async () => {
    await using p = await watchedPair({ "t1.txt": "1", "t2.txt": "2" });
    const target = (path: string) => (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ? readlinkSync(path) : undefined);
    symlinkSync("t1.txt", join(p.a, "d/l"));
    await waitFor(() => target(join(p.b, "d/l")) === "t1.txt", "B to get the link");
    expect(Bun.spawnSync(["ln", "-sfn", "t2.txt", join(p.a, "d/l")]).exitCode).toBe(0);
    await waitFor(() => target(join(p.b, "d/l")) === "t2.txt", "B to get its new target");
    rmSync(join(p.a, "d/l"));
    await waitFor(() => !lstatSync(join(p.b, "d/l"), { throwIfNoEntry: false }), "B to lose the link");
    expect([read(join(p.b, "d/t1.txt")), read(join(p.b, "d/t2.txt"))]).toEqual(["1", "2"]);
  });

  test("a file appended to for a while is pushed once it is whole, never half-written", async () => {
    await using p = await watchedPair({ "keep.txt": "k" });
    const lines: string[] = [];
    for (let i = 0; i < 20; i++) {
      lines.push(`line ${i}\n`);
      appendFileSync(join(p.a, "d/log.txt"), lines.at(-1) as string);
      await Bun.sleep(250);
    }
    const whole = lines.join("");
    await waitFor(() => read(join(p.b, "d/log.txt")) === whole, "B to get the whole file");
    const history = (await p.api.log({ path: "d/log.txt" })).history ?? [];
    expect(history.map((h) => [h.action, h.md5])).toEqual([["added", md5Bytes(whole)]]);
  });

  test("the same file edited on both at once: both versions survive (keep-both), and the pushes stop", async () => {
    await using p = await watchedPair({ "same.txt": "base" });
    writeFile(p.a, "d/same.txt", "from A");
    writeFile(p.b, "d/same.txt", "from B");
    const copies = (top: string) => readdirSync(join(top, "d")).filter((n) => n.includes(".conflict-"));
    await waitFor(
      () => read(join(p.a, "d/same.txt")) === read(join(p.b, "d/same.txt")) && copies(p.a).length + copies(p.b).length === 1,
      "A and B to agree, one keeping its version aside",
    );
    const [aside] = [...copies(p.a).map((n) => join(p.a, "d", n)), ...copies(p.b).map((n) => join(p.b, "d", n))];
    expect([read(join(p.a, "d/same.txt")), read(aside as string)].sort()).toEqual(["from A", "from B"]);
    const head = (await p.api.info()).revision;
    await Bun.sleep(6_000);
    expect((await p.api.info()).revision).toBe(head);
    expect(head).toBeLessThanOrEqual(3); // the first push, then one of the two edits
    const conflicts = [...p.wa.events(), ...p.wb.events()].filter((e) => e.event === "conflict");
    expect(conflicts).toHaveLength(1);
  });

  test("the server killed (SIGKILL) for 30 s and back on the same address: A and B converge, with no manual step", async () => {
    using dir = tempDir();
    const root = join(dir.path, "server");
    const port = String(freePort());
    let server = await startServer({ root, args: ["--port", port] });
    try {
      const a = await pushedTree(server.url, dir.path, { "f.txt": "before", "g.txt": "before" });
      const b = join(dir.path, "b");
      await cli(dir.path, ["clone", server.url, b]);
      await using wa = await startWatch(a);
      await using wb = await startWatch(b);
      await server.stop("SIGKILL");
      writeFile(a, "d/f.txt", "A, while the server was away");
      writeFile(b, "d/g.txt", "B, while the server was away");
      await waitFor(
        () => wa.events().some((e) => e.event === "error") && wb.events().some((e) => e.event === "error"),
        "both to notice the server is gone",
      );
      await Bun.sleep(30_000);
      server = await startServer({ root, args: ["--port", port] });
      await waitFor(
        () => read(join(b, "d/f.txt")) === "A, while the server was away" && read(join(a, "d/g.txt")) === "B, while the server was away",
        "A and B to get each other's edit",
        120_000,
      );
      for (const tree of [a, b]) expect((await cli(tree, ["status"])).stdout).toStartWith("nothing to push");
    } finally {
      await server.stop();
    }
  });

  test("a directory moved in from outside, one moved out and one renamed: B gets the same tree, and no file is lost", async () => {
    const keep = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`keep/k${i}.txt`, `k${i}`])); // the moves delete under half
    await using p = await watchedPair({ ...keep, "out/o1.txt": "o1", "out/sub/o2.txt": "o2", "old/r.txt": "r" });
    writeFile(p.dir, "elsewhere/x/i1.txt", "i1");
    writeFile(p.dir, "elsewhere/i2.txt", "i2");
    renameSync(join(p.dir, "elsewhere"), join(p.a, "d/in"));
    renameSync(join(p.a, "d/out"), join(p.dir, "moved-out"));
    renameSync(join(p.a, "d/old"), join(p.a, "d/renamed"));
    await waitFor(
      () =>
        read(join(p.b, "d/in/x/i1.txt")) === "i1" &&
        read(join(p.b, "d/in/i2.txt")) === "i2" &&
        read(join(p.b, "d/renamed/r.txt")) === "r" &&
        !existsSync(join(p.b, "d/out")) &&
        !existsSync(join(p.b, "d/old")),
      "B to follow the moves",
    );
    expect(read(join(p.dir, "moved-out/sub/o2.txt"))).toBe("o2");
    expect(read(join(p.b, "d/keep/k7.txt"))).toBe("k7");
    expect((await cli(p.a, ["status"])).stdout).toStartWith("nothing to push");
  });

  test("`soc push` by hand beside the daemon asks it what changed, and sends it", async () => {
    await using p = await watchedPair({ "f.txt": "one" });
    writeFile(p.a, "d/f.txt", "two");
    writeFile(p.a, "d/g.txt", "new");
    await cli(p.a, ["push", "--wait", "60"]); // the daemon may push first: the lock takes turns
    // What only a scan that asked keeps: the daemon's clock (the daemon's own pushes keep none).
    using db = new Database(join(p.a, ".soc/state.db"), { readonly: true });
    const kept = db.query("SELECT value FROM meta WHERE key = 'watch_hint'").get() as { value: string } | null;
    expect(JSON.parse(kept?.value ?? "{}").clock?.epoch).toBeString();
    await waitFor(() => read(join(p.b, "d/f.txt")) === "two" && read(join(p.b, "d/g.txt")) === "new", "B to get the push");
    expect((await cli(p.a, ["status"])).stdout).toStartWith("nothing to push");
  });

  test("--on-conflict stop leaves a conflicting file alone, says so once, and keeps syncing the rest", async () => {
    await using p = await watchedPair({ "same.txt": "base", "other.txt": "o" }, ["--on-conflict", "stop"]);
    writeFile(p.a, "d/same.txt", "from A");
    await waitFor(() => read(join(p.b, "d/same.txt")) === "from A", "B to get A's first edit");
    await p.wb.stop();
    writeFile(p.b, "d/same.txt", "from B, unpushed");
    writeFile(p.a, "d/same.txt", "from A, again");
    await waitFor(async () => (await p.api.info()).revision === 3, "A's second edit on the server");
    await using wb = await startWatch(p.b, ["--on-conflict", "stop"]);
    writeFile(p.a, "d/other.txt", "still syncing");
    await waitFor(() => read(join(p.b, "d/other.txt")) === "still syncing", "B to keep syncing other files");
    writeFile(p.a, "d/other.txt", "and again");
    await waitFor(() => read(join(p.b, "d/other.txt")) === "and again", "B to keep syncing other files");
    expect(read(join(p.b, "d/same.txt"))).toBe("from B, unpushed");
    expect(wb.events().filter((e) => e.event === "conflict")).toEqual([{ event: "conflict", path: "d/same.txt", action: "left-alone" }]);
  });

  test("stopped (SIGSTOP) while 20,000 files appear, then continued: every one arrives, and status is exact on both sides", async () => {
    await using p = await watchedPair({ "f.txt": "x" });
    p.wa.signal("SIGSTOP"); // its inotify queue overflows meanwhile (16,384 events by default)
    const count = 20_000;
    for (let d = 0; d < 100; d++) mkdirSync(join(p.a, `d/many/s${d}`), { recursive: true });
    for (let i = 0; i < count; i++) writeFileSync(join(p.a, `d/many/s${i % 100}/f${i}.txt`), `file ${i}\n`);
    p.wa.signal("SIGCONT");
    const arrived = () => readdirSync(join(p.b, "d/many"), { recursive: true }).filter((n) => String(n).endsWith(".txt")).length;
    await waitFor(() => existsSync(join(p.b, "d/many")) && arrived() === count, "all 20,000 files on B", 280_000);
    expect(read(join(p.b, "d/many/s7/f19907.txt"))).toBe("file 19907\n");
    for (const top of [p.a, p.b]) expect((await cli(top, ["status", "--json"])).stdout).toBe('{"added":[],"modified":[],"deleted":[]}\n');
  });

  test("a git checkout that rewrites 5,000 files: B gets every one, in at most 2 pushes, none of them a deletion", async () => {
    using dir = tempDir();
    await using server = await startServer();
    const a = join(dir.path, "a");
    const git = (...args: string[]) => {
      const r = Bun.spawnSync(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd: join(a, "d"), stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
    };
    const files = 5_000;
    const writeAll = (version: string) => {
      for (let i = 0; i < files; i++) writeFile(a, `d/src/m${i % 50}/f${i}.txt`, `${version} ${i}\n`);
    };
    mkdirSync(join(a, "d"), { recursive: true });
    git("init", "-q", "-b", "one");
    writeAll("one");
    git("add", "-A");
    git("commit", "-qm", "one");
    git("checkout", "-q", "-b", "two");
    writeAll("two");
    git("commit", "-qam", "two");
    git("checkout", "-q", "one");
    writeFileSync(join(a, ".socignore"), "d/.git/\n");
    await cli(a, ["init", server.url]);
    await cli(a, ["add", "-r", "d"]);
    await cli(a, ["push"]);
    const b = join(dir.path, "b");
    await cli(dir.path, ["clone", server.url, b]);
    await using wa = await startWatch(a);
    await using _wb = await startWatch(b);
    git("checkout", "-q", "two"); // A had nothing else to push: every push A makes is the checkout's
    const done = () => read(join(b, "d/src/m7/f4957.txt")) === "two 4957\n" && read(join(b, "d/src/m0/f0.txt")) === "two 0\n";
    await waitFor(done, "B to get the checkout", 280_000);
    await waitFor(async () => (await cli(b, ["status", "--json"])).stdout === '{"added":[],"modified":[],"deleted":[]}\n', "B to settle");
    for (let i = 0; i < files; i += 499) expect(read(join(b, `d/src/m${i % 50}/f${i}.txt`))).toBe(`two ${i}\n`);
    const pushes = wa.events().filter((e) => e.event === "push");
    expect(pushes.length).toBeGreaterThanOrEqual(1);
    expect(pushes.length).toBeLessThanOrEqual(2);
    expect(pushes.flatMap((e) => e.deleted as string[])).toEqual([]);
    expect(pushes.flatMap((e) => e.transferred as string[])).toHaveLength(files);
  });

  test("`soc add` of a directory that was already there, while watching, sends its files (no file event names them)", async () => {
    await using p = await watchedPair({ "f.txt": "x" });
    for (let i = 0; i < 5; i++) writeFile(p.a, `extra/e${i}.txt`, `extra ${i}`);
    await Bun.sleep(3_000); // A's watcher has seen them, untracked, and pushed nothing
    await cli(p.a, ["add", "-r", "extra", "--wait", "60"]);
    await waitFor(() => read(join(p.b, "extra/e4.txt")) === "extra 4", "B to get the newly tracked directory");
  });

  test("randomized churn with daemon restarts: status asking the watcher always equals a full scan, and asks it", async () => {
    // No remote: the daemon only watches, so the changes stay for status to find.
    using dir = tempDir();
    const top = dir.path;
    const names = Array.from({ length: 40 }, (_, i) => `t/d${i % 4}/f${i}`);
    for (const name of names) writeFile(top, name, "0");
    await cli(top, ["init"]);
    await cli(top, ["add", "-r", "t"]);
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let asked = 0;
    let reused = 0;
    for (let round = 0; round < 3; round++) {
      await using w = await startWatch(top);
      for (let step = 0; step < 8; step++) {
        for (let op = 0; op < 5; op++) {
          const name = names[rand(names.length)] as string;
          const abs = join(top, name);
          const kind = rand(5);
          if (kind === 0) writeFile(top, name, `edit ${round} ${step} ${op}`);
          else if (kind === 1) rmSync(abs, { force: true });
          else if (kind === 2 && existsSync(abs)) renameSync(abs, join(top, `t/d${rand(4)}/moved-${round}-${step}-${op}`));
          else if (kind === 3 && existsSync(abs)) Bun.spawnSync(["chmod", rand(2) ? "755" : "644", abs]);
          else writeFile(top, `t/new${rand(3)}/n${round}-${step}-${op}`, "new");
        }
        const watched = await cli(top, ["status", "--json", "-v"]);
        const full = await cli(top, ["status", "--json", "--full", "-v"]);
        expect(watched.stdout).toBe(full.stdout);
        // Nothing changed since: what the last status found still holds, and nothing is looked at again.
        const again = await cli(top, ["status", "--json", "-v"]);
        expect(again.stdout).toBe(full.stdout);
        expect(again.stderr.split(",")[0]).toBe(full.stderr.split(",")[0]);
        if (again.stderr.includes("asked soc watch: 0 paths")) reused++;
        expect(watched.stderr.split(",")[0]).toBe(full.stderr.split(",")[0]); // "scanned N files": the same count
        if (!/^scanned \d+ files/.test(watched.stderr)) throw new Error(watched.stderr);
        if (step > 0 && !watched.stderr.includes("asked soc watch")) throw new Error(`status did not use the watcher: ${watched.stderr}`);
        if (watched.stderr.includes("asked soc watch")) asked++;
      }
      expect(w.events()[0]).toMatchObject({ event: "watching", syncing: false });
    }
    expect(asked).toBeGreaterThanOrEqual(3 * 7);
    expect(reused).toBeGreaterThanOrEqual(3); // at least once a round; a refresh of the base (a racy entry re-read) forgoes it
  });

  test("a second soc watch in the same tree refuses (exit 5) and names the one that runs", async () => {
    using dir = tempDir();
    writeFile(dir.path, "t/f.txt", "x");
    await cli(dir.path, ["init"]);
    await using _first = await startWatch(dir.path);
    const second = await runCli(dir.path, ["watch"]);
    expect(second.code).toBe(5);
    expect(second.stderr).toMatch(/^error: soc watch already runs for this tree: pid \d+ on \S+ since /);
  });

  test("SIGTERM: the cycle in flight ends, it says so and exits 0", async () => {
    await using p = await watchedPair({ "f.txt": "x" });
    writeFile(p.a, "d/f.txt", "y");
    expect(await p.wa.stop("SIGTERM")).toBe(0);
    expect(p.wa.events().at(-1)).toEqual({ event: "stopped" });
  });

  test("an inotify limit too small for the tree (a user namespace allowing 2 watches): it scans instead, says why once, still syncs, and status does not ask it", async () => {
    await using stack = new AsyncDisposableStack();
    const files = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`sub${i}/f.txt`, `x${i}`]));
    const { server, dir, a } = stack.use(await serverAndPushedTree(files));
    const b = join(dir, "b");
    await cli(dir, ["clone", server.url, b]);
    const timing = JSON.stringify({ degradedScanMs: 1_000 });
    const lowLimit = ["unshare", "--user", "--map-root-user", "sh", "-c", 'echo 2 > /proc/sys/user/max_inotify_watches && exec "$@"', "sh"];
    const wa = stack.use(await startWatch(a, [], { SOC_TEST_WATCH_TIMING: timing }, lowLimit));
    stack.use(await startWatch(b));
    await waitFor(() => wa.events().some((e) => e.event === "degraded"), "A's watcher to hit the limit");
    writeFile(a, "d/sub3/f.txt", "found by a scan");
    await waitFor(() => read(join(b, "d/sub3/f.txt")) === "found by a scan", "B to get the edit A's scan found");
    const degraded = wa.events().filter((e) => e.event === "degraded");
    expect(degraded).toHaveLength(1);
    expect(String(degraded[0]?.reason)).toContain("fs.inotify.max_user_watches");
    writeFile(a, "d/sub4/f.txt", "not pushed yet, maybe");
    const status = await cli(a, ["status", "-v"]);
    expect(status.stderr).not.toContain("asked soc watch");
  });

  test("--install writes a systemd user unit that runs soc watch in this tree", async () => {
    await using t = await serverAndPushedTree({ "f.txt": "x" });
    const config = join(t.dir, "config");
    const res = await runCli(t.a, ["watch", "--install"], { XDG_CONFIG_HOME: config });
    expect(res.code).toBe(0);
    const units = readdirSync(join(config, "systemd/user"));
    expect(units).toHaveLength(1);
    const unit = readFileSync(join(config, "systemd/user", units[0] as string), "utf8");
    expect(unit).toContain(`WorkingDirectory=${t.a}\n`);
    expect(unit).toMatch(/\nExecStart=\S+ \S+cli\.ts watch --quiet\n/);
    expect(res.stdout).toContain(`systemctl --user enable --now ${units[0]}`);
    expect(await run(["systemd-analyze", "verify", join(config, "systemd/user", units[0] as string)])).toEqual({ stdout: "", stderr: "", code: 0 });
  });
});
