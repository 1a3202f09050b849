import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient, type RemoteClient } from "../../lib/client/api.ts";
import { SocError } from "../../lib/shared/errors.ts";
import { CACHE_MARKER } from "../../lib/server/blob-cache.ts";
import { cli, runCli } from "../_harness/cli.ts";
import { startRgw, type TestRgw } from "../_harness/ceph-rgw.ts";
import { snapshot, tempDir, writeFile } from "../_harness/fs.ts";
import { startPostgres, type TestPostgres } from "../_harness/postgres.ts";
import { pollUntil } from "../_harness/proc.ts";
import { startServer, type TestServer } from "../_harness/server.ts";
import { overEveryTransport } from "../_harness/transports.ts";
import { upsertOf } from "../_harness/upserts.ts";
import { pointAt, pushedTree } from "../_harness/working-trees.ts";

// Several servers, one cluster: each with a store directory of its own, all on one PostgreSQL
// database and one bucket of a real Ceph RGW, clients pushing and pulling through either.

let pg: TestPostgres;
let rgw: TestRgw;
beforeAll(async () => {
  [pg, rgw] = await Promise.all([startPostgres(), startRgw()]);
}, 300_000);
afterAll(async () => {
  await Promise.all([pg?.[Symbol.asyncDispose](), rgw?.[Symbol.asyncDispose]()]);
});

let clusters = 0;

/** A new cluster's database and bucket; `node(root)` starts one more server of it, its state in `root`. */
async function cluster(): Promise<{
  database: string;
  /** The bucket itself, as a client of the store (not through soc). */
  bucket: Bun.S3Client;
  node(root: string, more?: { env?: Record<string, string>; args?: string[]; cache?: boolean }): Promise<TestServer>;
}> {
  const n = ++clusters;
  const [database, bucket] = await Promise.all([pg.createDatabase(`soc_cluster_${n}`), rgw.createBucket(`soc-cluster-${n}`)]);
  const env = { SOC_DATABASE: database, ...rgw.env };
  return {
    database,
    bucket: new Bun.S3Client(rgw.s3(bucket)),
    node: (root, more = {}) =>
      startServer({ root, args: ["--content", `s3://${bucket}`, ...(more.args ?? [])], env: { ...env, ...more.env }, cache: more.cache === true }),
  };
}

/** Commits `link` as the symlink at `path` (no bytes to stage) through `client`, built on `baseRev`: its revision, or the error's code. */
async function commitLink(client: RemoteClient, path: string, link: string, baseRev: number): Promise<number | string> {
  const { stage } = await client.beginPush("race");
  try {
    const upsert = upsertOf(path, link, baseRev, { link, mode: 0o777 });
    return (await client.commitPush({ stage, client: "race", upserts: [upsert], deletes: [], roots: { set: [], remove: [] } })).revision;
  } catch (error) {
    if (error instanceof SocError) return error.code;
    throw error;
  }
}

describe("two servers, one cluster", () => {
  test("a push through one node is pulled through another byte for byte (content, modes, links, deletions, history); a node joining later fills its store from the bucket", async () => {
    using dir = tempDir();
    const c = await cluster();
    await using one = await c.node(join(dir.path, "one"));
    await using two = await c.node(join(dir.path, "two"));
    const a = await pushedTree(one.url, dir.path, { x: "one", "sub/y": "two", "run.sh": "#!/bin/sh\n" });
    chmodSync(join(a, "d/run.sh"), 0o755);
    symlinkSync("sub/y", join(a, "d/link"));
    await cli(a, ["push"]);
    await cli(dir.path, ["clone", two.url, join(dir.path, "b")]);
    const b = join(dir.path, "b");
    expect(snapshot(join(b, "d"))).toEqual(snapshot(join(a, "d")));
    expect(statSync(join(b, "d/run.sh")).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(b, "d/link"))).toBe("sub/y");
    // Edits through the second node reach the first.
    writeFile(b, "d/x", "one, edited on b");
    unlinkSync(join(b, "d/sub/y"));
    await cli(b, ["push"]);
    await cli(a, ["pull"]);
    expect(snapshot(join(a, "d"))).toEqual(snapshot(join(b, "d")));
    expect(existsSync(join(one.store, "d/sub/y"))).toBe(false);
    // Old content comes from the bucket, through either node; a restore through one is pulled through the other.
    for (const node of [one, two]) {
      const old = await createClient(node.url, undefined).content("d/x", 1);
      expect(await new Response(old.body).text()).toBe("one");
      // A download broken off resumes with a range, read from the blob by a ranged GET.
      const rest = await fetch(`${node.url}/v1/content?path=d/x&rev=1`, { headers: { range: "bytes=1-" } });
      expect([rest.status, rest.headers.get("content-range"), await rest.text()]).toEqual([206, "bytes 1-2/3", "ne"]);
    }
    await cli(b, ["restore", "d/sub/y"]);
    await cli(a, ["pull"]);
    expect(readFileSync(join(a, "d/sub/y"), "utf8")).toBe("two");
    // Nodes keep no version files: a version is a row naming its blob.
    expect(existsSync(join(one.stateDir, "versions"))).toBe(false);
    expect(existsSync(join(two.stateDir, "versions"))).toBe(false);
    // A third node, new to the table, places the live rows from the bucket before it listens.
    await using three = await c.node(join(dir.path, "three"));
    expect(three.log()).toMatch(/joined the cluster at revision \d+: placed its 4 live files from s3:\/\/soc-cluster-\d+/);
    expect(snapshot(join(three.store, "d"))).toEqual(snapshot(join(a, "d")));
    pointAt(a, three.url);
    await cli(a, ["verify", "--server"]);
  });

  test("300 × 2 racing pushes to the same paths through two nodes: one wins each path, the other gets 409; revisions have no gaps, and a poller walking `since` sees each once", async () => {
    using dir = tempDir();
    const c = await cluster();
    await using one = await c.node(join(dir.path, "one"));
    await using two = await c.node(join(dir.path, "two"));
    const clients = [createClient(one.url, undefined), createClient(two.url, undefined)] as const;
    const PATHS = 300;
    // Both nodes race for every path, one push in flight on each at a time.
    const outcomes: (number | string)[][] = Array.from({ length: PATHS }, () => []);
    const racer = async (node: 0 | 1) => {
      for (let i = 0; i < PATHS; i++) outcomes[i]?.push(await commitLink(clients[node], `race/p${i}`, `node ${node}`, 0));
    };
    // Meanwhile a poller on the second node walks "since" as a client does, until the racers are done and it has seen the head.
    let last: number | undefined;
    const seen: number[] = [];
    const polling = (async () => {
      for (let since = 0; last === undefined || since < last;) {
        if (last === undefined) await clients[1].waitForChange(since, 1);
        const page = await clients[1].changes(since);
        seen.push(...page.files.map((f) => f.rev));
        since = page.revision;
      }
    })();
    await Promise.all([racer(0), racer(1)]);
    last = (await clients[1].info()).revision;
    await polling;
    for (const [i, results] of outcomes.entries()) {
      const revs = results.filter((r) => typeof r === "number");
      expect({ i, revs: revs.length, lost: results.filter((r) => r === "conflict").length }).toEqual({ i, revs: 1, lost: 1 });
    }
    const won = outcomes.flatMap((r) => r.filter((x): x is number => typeof x === "number")).sort((x, y) => x - y);
    expect(won).toEqual(Array.from({ length: PATHS }, (_, i) => i + 1));
    expect([...seen].sort((x, y) => x - y)).toEqual(won);
    const log = await clients[0].log({ limit: 1000 });
    expect(log.revisions.map((r) => r.rev).sort((x, y) => x - y)).toEqual(won);
    // Each node's store holds each path's winner.
    const rows = (await clients[1].changes(0)).files;
    for (const node of [one, two]) {
      await createClient(node.url, undefined).info(); // a request: the node has placed every revision before it answers
      for (const row of rows) expect(readlinkSync(join(node.store, row.path))).toBe(row.link as string);
    }
  }, 240_000);

  test("a push through one node wakes a long poll held on the other within a second", async () => {
    using dir = tempDir();
    const c = await cluster();
    await using one = await c.node(join(dir.path, "one"));
    await using two = await c.node(join(dir.path, "two"));
    const watcher = createClient(two.url, undefined);
    const held = watcher.waitForChange(0, 20).then((answer) => ({ answer, at: performance.now() }));
    await Bun.sleep(300); // the poll is held on the second node
    expect(await commitLink(createClient(one.url, undefined), "wake", "up", 0)).toBe(1);
    const committed = performance.now();
    const { answer, at } = await held;
    expect(answer.head).toBe(1);
    expect(at - committed).toBeLessThan(1000);
    expect(readlinkSync(join(two.store, "wake"))).toBe("up");
  });

  test("one push, one node: a commit sent to a node other than its stage's fails loudly, naming both; through its own node it lands", async () => {
    using dir = tempDir();
    const c = await cluster();
    await using one = await c.node(join(dir.path, "one"));
    await using two = await c.node(join(dir.path, "two"));
    const [first, second] = [createClient(one.url, undefined), createClient(two.url, undefined)];
    const { stage } = await first.beginPush("t");
    const commit = {
      stage,
      client: "t",
      upserts: [upsertOf("l", "target", 0, { link: "target", mode: 0o777 })],
      deletes: [],
      roots: { set: [], remove: [] },
    };
    const wrong = await second.commitPush(commit).catch((error: SocError) => error);
    expect(wrong).toBeInstanceOf(SocError);
    expect((wrong as SocError).code).toBe("wrong_node");
    expect((wrong as SocError).message).toContain(stage.slice(0, 8));
    expect((await first.commitPush(commit)).revision).toBe(1);
    // One node, one process: a second server on the first one's store and state directory is refused.
    const again = await c.node(join(dir.path, "one")).catch((error: Error) => error);
    expect(again).toBeInstanceOf(Error);
    expect((again as Error).message).toMatch(/another server is running as node [0-9a-f]{32} of this cluster/);
  });

  test("killed between its upload and its commit: no row names the orphan, and the cluster's collection deletes it only after the grace period", async () => {
    using dir = tempDir();
    const c = await cluster();
    let a: string;
    {
      await using one = await c.node(join(dir.path, "one"));
      a = await pushedTree(one.url, dir.path, { kept: "kept bytes" });
    }
    writeFile(a, "d/orphan", "bytes of a push that never committed");
    {
      await using cut = await c.node(join(dir.path, "one"), { env: { SOC_TEST_FAILPOINT: "uploaded:kill" } });
      pointAt(a, cut.url);
      expect((await runCli(a, ["push"])).code).not.toBe(0);
    }
    {
      await using two = await c.node(join(dir.path, "two"));
      await pollUntil(() => two.log().includes("garbage collection"), 60_000);
      expect(two.log()).toContain("garbage collection: deleted 0 blobs");
    }
    await using two = await c.node(join(dir.path, "two"), { args: ["--blob-grace-hours", "0"] });
    await pollUntil(() => two.log().includes("garbage collection"), 60_000);
    expect(two.log()).toContain("garbage collection: deleted 1 blob no row or push needs");
    await cli(dir.path, ["clone", two.url, join(dir.path, "b")]);
    expect(readFileSync(join(dir.path, "b/d/kept"), "utf8")).toBe("kept bytes");
  });

  test("a single server moves onto the cluster: its store's content and kept versions go up to the bucket, and a second node serves them", async () => {
    using dir = tempDir();
    const c = await cluster();
    const root = join(dir.path, "one");
    let a: string;
    {
      await using solo = await startServer({ root, env: { SOC_DATABASE: c.database } });
      a = await pushedTree(solo.url, dir.path, { x: "first", "sub/y": "two" });
      writeFile(a, "d/x", "second");
      await cli(a, ["push"]);
    }
    await using one = await c.node(root);
    expect(one.log()).toMatch(/moved onto s3:\/\/soc-cluster-\d+: uploaded the content of 3 rows and versions from the store directory/);
    await using two = await c.node(join(dir.path, "two"));
    await cli(dir.path, ["clone", two.url, join(dir.path, "b")]);
    expect(snapshot(join(dir.path, "b/d"))).toEqual(snapshot(join(a, "d")));
    const old = await createClient(two.url, undefined).content("d/x", 1);
    expect(await new Response(old.body).text()).toBe("first");
    pointAt(a, one.url);
    writeFile(a, "d/x", "third");
    await cli(a, ["push"]);
    await cli(join(dir.path, "b"), ["pull"]);
    expect(readFileSync(join(dir.path, "b/d/x"), "utf8")).toBe("third");
  });

  test("a node killed while it places another node's revision from the bucket finishes it at its next start: its store matches the table", async () => {
    using dir = tempDir();
    const c = await cluster();
    await using one = await c.node(join(dir.path, "one"));
    const a = await pushedTree(one.url, dir.path, { x: "one", "sub/y": "two", z: "three" });
    const root = join(dir.path, "two");
    {
      // Killed at its second file written while it follows a push through the first node.
      await using two = await c.node(root, { env: { SOC_TEST_FAILPOINT: "written@2:kill" } });
      writeFile(a, "d/x", "one, edited");
      writeFile(a, "d/sub/y", "two, edited");
      writeFile(a, "d/new", "four");
      await cli(a, ["push"]);
      await fetch(`${two.url}/v1/info`).catch(() => undefined); // a request places the revision first, if the announcement has not yet
      expect((await two.stop()).code).not.toBe(0);
    }
    await using two = await c.node(root);
    expect(two.log()).toContain("finished the file work of revision 2, left unfinished by the last run");
    await cli(dir.path, ["clone", two.url, join(dir.path, "b")]);
    expect(snapshot(join(dir.path, "b/d"))).toEqual(snapshot(join(a, "d")));
    expect(snapshot(join(two.store, "d"))).toEqual(snapshot(join(a, "d")));
    pointAt(join(dir.path, "b"), two.url);
    await cli(join(dir.path, "b"), ["verify", "--server"]);
  });
});

describe("a node with a bounded cache (--cache) instead of a tree", () => {
  const KIB = 1024;
  /** The bytes of the blobs in a cache directory (its marker aside). */
  const cached = (root: string) =>
    readdirSync(root)
      .filter((name) => name !== CACHE_MARKER)
      .flatMap((sub) => readdirSync(join(root, sub)).map((name) => statSync(join(root, sub, name)).size))
      .reduce((sum, size) => sum + size, 0);
  const sessions = (stateDir: string, kind: string) => (existsSync(join(stateDir, kind)) ? readdirSync(join(stateDir, kind)) : []);

  overEveryTransport((t) =>
    describe(`over ${t.name}`, () => {
      beforeAll(() => t.start(), 60_000);
      afterAll(() => t.stop());

      test(`pushes and clones go through views of its cache, byte for byte, and the cache stays within its size`, async () => {
        using dir = tempDir();
        const c = await cluster();
        await using tree = await c.node(join(dir.path, "tree"));
        await using node = await c.node(join(dir.path, "node"), { cache: true, args: ["--cache-size", "48K"] });
        // Six files of 16 KiB: twice what the cache may hold.
        const files = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`big/f${i}`, `${i}`.repeat(16 * KIB - 1) + "\n"]));
        const a = await pushedTree(node.url, dir.path, { ...files, "run.sh": "#!/bin/sh\n" }, t.initArgs());
        chmodSync(join(a, "d/run.sh"), 0o755);
        symlinkSync("big/f0", join(a, "d/link"));
        await cli(a, ["push"]);
        const b = join(dir.path, "b");
        await cli(dir.path, ["clone", node.url, b, ...t.initArgs()]);
        expect(snapshot(join(b, "d"))).toEqual(snapshot(join(a, "d")));
        expect(statSync(join(b, "d/run.sh")).mode & 0o777).toBe(0o755);
        expect(readlinkSync(join(b, "d/link"))).toBe("big/f0");
        // An edit to a big file goes up through the node (its basis, from the cache), and reaches a tree node.
        writeFile(b, "d/big/f3", `${"3".repeat(16 * KIB - 1)}\nand one more line\n`);
        unlinkSync(join(b, "d/big/f5"));
        await cli(b, ["push"]);
        await cli(dir.path, ["clone", tree.url, join(dir.path, "c"), ...t.initArgs()]);
        expect(snapshot(join(dir.path, "c/d"))).toEqual(snapshot(join(b, "d")));
        // A restore through the node, pulled through it.
        await cli(b, ["restore", "d/big/f5"]);
        await cli(a, ["pull"]);
        expect(snapshot(join(a, "d"))).toEqual(snapshot(join(b, "d")));
        await cli(a, ["verify", "--server"]);
        // No tree: blobs by sha256 within the size asked for; no view or basis outlives its session.
        expect(readdirSync(node.store).every((name) => name === CACHE_MARKER || /^[0-9a-f]{2}$/.test(name))).toBe(true);
        expect(cached(node.store)).toBeLessThanOrEqual(48 * KIB);
        if (t.name !== "http") {
          // rsync read views and reused a basis (the http transport reads content by path, and uploads by md5).
          expect(cached(node.store)).toBeGreaterThan(0);
          expect(node.log()).toContain("POST /v1/view/part 200");
          expect(node.log()).toContain("POST /v1/push/basis 200");
        }
        expect([...sessions(node.stateDir, "view"), ...sessions(node.stateDir, "basis")]).toEqual([]);
      }, 180_000);
    }),
  );

  test("a blob damaged in the cache: one cut short is fetched again; one with other bytes fails the pull until verify --server lets it go", async () => {
    using dir = tempDir();
    const c = await cluster();
    await using node = await c.node(join(dir.path, "node"), { cache: true });
    const a = await pushedTree(node.url, dir.path, { x: "the bytes of x", y: "the bytes of y" });
    await cli(dir.path, ["clone", node.url, join(dir.path, "b")]); // the cache holds both now
    const blobOf = (content: string) => {
      const sha256 = new Bun.CryptoHasher("sha256").update(content).digest("hex");
      return join(node.store, sha256.slice(0, 2), sha256);
    };
    writeFileSync(blobOf("the bytes of x"), "the bytes");
    await cli(dir.path, ["clone", node.url, join(dir.path, "c")]);
    expect(readFileSync(join(dir.path, "c/d/x"), "utf8")).toBe("the bytes of x");
    // Same size, other bytes: the client's md5 check refuses them, each attempt.
    writeFileSync(blobOf("the bytes of y"), "THE BYTES OF Y");
    const refused = await runCli(dir.path, ["clone", node.url, join(dir.path, "e")]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("its files kept changing, or its copy is damaged (`soc verify --server` checks it)");
    expect(existsSync(join(dir.path, "e/d/y"))).toBe(false);
    await cli(a, ["verify", "--server"]);
    expect(node.log()).toMatch(/verify: let go of 1 damaged blob in the cache \([0-9a-f]{64}\); fetched again when asked for/);
    await cli(dir.path, ["clone", node.url, join(dir.path, "f")]);
    expect(snapshot(join(dir.path, "f/d"))).toEqual(snapshot(join(a, "d")));
  });

  test("a view is its node's and its paths are checked; content the bucket lacks is 503 content_unavailable, naming the path", async () => {
    using dir = tempDir();
    const c = await cluster();
    await using node = await c.node(join(dir.path, "node"), { cache: true });
    await pushedTree(node.url, dir.path, { x: "the bytes of x" });
    const post = async (path: string, body: object) => {
      const res = await fetch(`${node.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { view?: string; viewPath?: string; error?: { code: string; message: string } } };
    };
    const { view, viewPath } = (await post("/v1/view/begin", {})).body as { view: string; viewPath: string };
    expect(viewPath).toBe(join(node.stateDir, "view", view));
    expect(await post("/v1/view/part", { view, paths: ["../x"] })).toMatchObject({ status: 400, body: { error: { code: "bad_path" } } });
    const elsewhere = `${view.slice(0, 8) === "00000000" ? "11111111" : "00000000"}${view.slice(8)}`;
    expect(await post("/v1/view/part", { view: elsewhere, paths: ["d/x"] })).toMatchObject({ status: 421, body: { error: { code: "wrong_node" } } });
    const sha256 = new Bun.CryptoHasher("sha256").update("the bytes of x").digest("hex");
    await c.bucket.delete(`sha256/${sha256.slice(0, 2)}/${sha256}`);
    const lacking = await post("/v1/view/part", { view, paths: ["d/x"] });
    expect(lacking).toMatchObject({ status: 503, body: { error: { code: "content_unavailable" } } });
    expect(lacking.body.error?.message).toContain(`cannot get the content of "d/x" into this server's cache: blob ${sha256} is missing from`);
    expect(await post("/v1/view/end", { view })).toMatchObject({ status: 200 });
    expect(existsSync(viewPath)).toBe(false);
    expect(await post("/v1/view/part", { view, paths: ["d/x"] })).toMatchObject({ status: 400, body: { error: { code: "no_view" } } });
  });

  test("a node started with --store where it kept a cache is another node: it fills its tree from the bucket", async () => {
    using dir = tempDir();
    const c = await cluster();
    const root = join(dir.path, "node");
    let a: string;
    {
      await using cached = await c.node(root, { cache: true });
      a = await pushedTree(cached.url, dir.path, { x: "one", "sub/y": "two" });
    }
    await using tree = await c.node(root);
    expect(tree.log()).toMatch(/joined the cluster at revision 1: placed its 2 live files/);
    expect(snapshot(join(tree.store, "d"))).toEqual(snapshot(join(a, "d")));
  });

  test("refuses a --cache directory that holds someone's files, changing nothing", async () => {
    using dir = tempDir();
    const c = await cluster();
    writeFile(join(dir.path, "node"), "cache/ab/notes.txt", "mine");
    const refused = await c.node(join(dir.path, "node"), { cache: true }).catch((error: Error) => error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toContain("holds files but is no soc cache: give --cache a new or empty directory");
    expect(readFileSync(join(dir.path, "node/cache/ab/notes.txt"), "utf8")).toBe("mine");
  });
});
