import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { cli, runCli } from "../_harness/cli.ts";
import { rgwForTests } from "../_harness/ceph-rgw.ts";
import { ROOT, tempDir, writeFile } from "../_harness/fs.ts";
import { pollUntil, run } from "../_harness/proc.ts";
import { startServer } from "../_harness/server.ts";
import { pointAt, pushedTree } from "../_harness/working-trees.ts";

// A server that also keeps every content in an S3 bucket (`--content s3://…`), against a real
// Ceph RGW: blobs by sha256, uploaded before the commit, collected once nothing needs them.

const ceph = rgwForTests("soc-e2e");

/** A fresh bucket, and the server flags and environment that put content there. */
async function bucket(): Promise<{ s3: Bun.S3Client; args: string[]; env: Record<string, string> }> {
  const name = await ceph.bucket();
  return { s3: new Bun.S3Client(ceph.rgw().s3(name)), args: ["--content", `s3://${name}`], env: ceph.rgw().env };
}

/** The sha256 of every blob in the bucket, sorted. */
async function blobKeys(s3: Bun.S3Client): Promise<string[]> {
  const listed = await s3.list({ maxKeys: 1000 });
  return (listed.contents ?? []).flatMap((o) => (o.key.startsWith("sha256/") ? [o.key.split("/").at(-1) as string] : [])).sort();
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("content in an S3 bucket", () => {
  test("every pushed content is a blob named by its sha256, once however many paths hold it; a replaced one stays for its version", async () => {
    using dir = tempDir();
    const b = await bucket();
    await using server = await startServer({ args: b.args, env: b.env });
    const a = await pushedTree(server.url, dir.path, { one: "same bytes", two: "same bytes", three: "other bytes" });
    expect(await blobKeys(b.s3)).toEqual([sha256("same bytes"), sha256("other bytes")].sort());
    writeFile(a, "d/three", "edited bytes");
    await cli(a, ["push"]);
    expect(await blobKeys(b.s3)).toEqual([sha256("same bytes"), sha256("other bytes"), sha256("edited bytes")].sort());
    // The store directory still serves: a clone is whole.
    await cli(dir.path, ["clone", server.url, join(dir.path, "b")]);
    await cli(join(dir.path, "b"), ["verify"]);
  });

  test("killed between its upload and its commit: no row names the orphan, which garbage collection leaves for the grace period and then deletes", async () => {
    using dir = tempDir();
    const b = await bucket();
    const root = join(dir.path, "server");
    let a: string;
    {
      await using first = await startServer({ root, args: b.args, env: b.env });
      a = await pushedTree(first.url, dir.path, { kept: "kept bytes" });
    }
    writeFile(a, "d/orphan", "bytes of a push that never committed");
    {
      await using cut = await startServer({ root, args: b.args, env: { ...b.env, SOC_TEST_FAILPOINT: "uploaded:kill" } });
      pointAt(a, cut.url);
      expect((await runCli(a, ["push"])).code).not.toBe(0);
    }
    const all = [sha256("kept bytes"), sha256("bytes of a push that never committed")].sort();
    expect(await blobKeys(b.s3)).toEqual(all);
    {
      // Within the grace period (24 hours by default) the collection at start leaves it.
      await using again = await startServer({ root, args: b.args, env: b.env });
      await pollUntil(() => again.log().includes("garbage collection"), 60_000);
      expect(again.log()).toContain("soc server: garbage collection: deleted 0 blobs no row or push needs");
      expect(await blobKeys(b.s3)).toEqual(all);
      pointAt(a, again.url);
      expect((await cli(a, ["status", "--json"])).stdout).toContain('"d/orphan"');
    }
    // Past it (a grace of 0 hours), the orphan goes and the content a row names stays.
    await using later = await startServer({ root, args: [...b.args, "--blob-grace-hours", "0"], env: b.env });
    await pollUntil(() => later.log().includes("garbage collection"), 60_000);
    expect(later.log()).toContain("soc server: garbage collection: deleted 1 blob no row or push needs");
    expect(await blobKeys(b.s3)).toEqual([sha256("kept bytes")]);
    // The push goes through now, its content uploaded again.
    pointAt(a, later.url);
    await cli(a, ["push"]);
    expect(await blobKeys(b.s3)).toEqual(all);
  });

  test("a bucket holds one database's content: a server of another database refuses it at start, naming both", async () => {
    using dir = tempDir();
    const b = await bucket();
    await using first = await startServer({ root: join(dir.path, "one"), args: b.args, env: b.env });
    const id = ((await (await fetch(`${first.url}/v1/info`)).json()) as { database: string }).database;
    const other = await run(["bun", join(ROOT, "server.ts"), "--store", join(dir.path, "two/store"), "--port", "0", ...b.args], {
      env: { ...process.env, ...b.env },
    });
    const db = new Database(join(dir.path, "two/.soc-server/soc.db"), { readonly: true });
    const otherId = db.query("SELECT id FROM server").get() as { id: string };
    db.close();
    expect([other.stderr, other.code]).toEqual([
      `soc server: ${b.args[1]} holds the content of another database (${id}, not ${otherId.id}): give each database a bucket or prefix of its own\n`,
      1,
    ]);
  });
});
