import { expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBlobCollector, MARK_LEASE_MS } from "../../../lib/server/blob-gc.ts";
import { openBlobStore, type BlobInfo, type BlobStore, type BlobStoreOptions } from "../../../lib/server/s3-blobs.ts";
import { sqlitePort } from "../../../lib/server/sqlite-port.ts";
import { openTable } from "../../../lib/server/table.ts";
import { changeset } from "../../_harness/changesets.ts";
import { MD5_A, up } from "../../_harness/upserts.ts";
import { UsageError } from "../../../lib/shared/errors.ts";
import { rgwForTests } from "../../_harness/ceph-rgw.ts";
import { tempDir } from "../../_harness/fs.ts";

// Against a real S3 endpoint (Ceph RGW, tests/_harness/ceph-rgw.ts); each test has a bucket of its own.
const ceph = rgwForTests("soc-blobs");

const MIB = 1024 * 1024;

test("put, then has and fetch give the bytes back exactly: empty, small, and several MiB sent in parts", async () => {
  using dir = tempDir();
  const { blobs, raw, bucket } = await freshStore();
  const made = [blobFile(dir.path, 0), blobFile(dir.path, 1000), blobFile(dir.path, 12 * MIB)];
  for (const b of made) {
    expect(await blobs.has(b.sha256)).toBe(false);
    expect(await blobs.put(b.path, b.sha256, b.size)).toBe("sent");
    expect(await blobs.has(b.sha256)).toBe(true);
  }
  for (const b of made) {
    await blobs.fetch(b.sha256, b.size, join(dir.path, "out"));
    expect(readFileSync(join(dir.path, "out"))).toEqual(readFileSync(b.path));
  }

  expect(blobs.name).toBe(`s3://${bucket}`);
  expect(await keys(raw)).toEqual(made.map((b) => keyOf(b.sha256)).sort());
  // An S3 ETag ending in -N: the object was uploaded in N parts (5 MiB each).
  expect(await Promise.all(made.map(async (b) => (await raw.stat(keyOf(b.sha256))).etag.replace(/^"[0-9a-f]{32}(.*)"$/, "parts$1")))).toEqual([
    "parts",
    "parts",
    "parts-3",
  ]);
});

test("a second put of a blob the bucket holds sends nothing; one of another size under its key is an error", async () => {
  using dir = tempDir();
  const { blobs, raw } = await freshStore();
  const b = blobFile(dir.path, 1000);
  expect(await blobs.put(b.path, b.sha256, b.size)).toBe("sent");
  // Other bytes of the same size in the bucket: a second upload would replace them.
  const other = new Uint8Array(randomBytes(1000));
  await raw.write(keyOf(b.sha256), other);
  expect(await blobs.put(b.path, b.sha256, b.size)).toBe("held");
  expect(new Uint8Array(await raw.file(keyOf(b.sha256)).arrayBuffer())).toEqual(other);

  await raw.write(keyOf(b.sha256), "short");
  await expect(blobs.put(b.path, b.sha256, b.size)).rejects.toThrow(`blob ${b.sha256} in ${blobs.name} is 5 bytes, not 1000: the store is damaged`);
});

test("put refuses a file that is not the blob it names, and the bucket is left without it (small or in parts)", async () => {
  using dir = tempDir();
  const { blobs, raw } = await freshStore();
  const wrong = "0".repeat(64);
  for (const b of [blobFile(dir.path, 1000), blobFile(dir.path, 11 * MIB)]) {
    await expect(blobs.put(b.path, wrong, b.size)).rejects.toThrow(`${b.path} is not blob ${wrong}: its sha256 is ${b.sha256}`);
    await expect(blobs.put(b.path, b.sha256, b.size + 1)).rejects.toThrow(`${b.path} is ${b.size} bytes, not the ${b.size + 1} of blob ${b.sha256}`);
  }
  expect(await blobs.has(wrong)).toBe(false);
  expect(await keys(raw)).toEqual([]);
});

test("fetch of a missing blob, or of one whose bytes are not its key's, throws naming it and leaves the directory as it was", async () => {
  using dir = tempDir();
  using into = tempDir();
  const { blobs, raw } = await freshStore();
  const b = blobFile(dir.path, 3 * MIB);
  const to = join(into.path, "file");

  await expect(blobs.fetch(b.sha256, b.size, to)).rejects.toThrow(`blob ${b.sha256} is missing from ${blobs.name}`);
  expect(readdirSync(into.path)).toEqual([]);

  const damaged = new Uint8Array(readFileSync(b.path));
  damaged[MIB] = (damaged[MIB] ?? 0) ^ 1;
  await raw.write(keyOf(b.sha256), damaged);
  const got = sha256Of(damaged);
  await expect(blobs.fetch(b.sha256, b.size, to)).rejects.toThrow(`blob ${b.sha256} in ${blobs.name} is damaged: its sha256 is ${got}`);
  await expect(blobs.fetch(b.sha256, b.size + 1, to)).rejects.toThrow(
    `blob ${b.sha256} in ${blobs.name} is damaged: ${b.size} bytes, not ${b.size + 1}`,
  );
  await expect(blobs.fetch(b.sha256, 10, to)).rejects.toThrow(`blob ${b.sha256} in ${blobs.name} is damaged: more than 10 bytes`);
  expect(readdirSync(into.path)).toEqual([]);

  // A file already at `to` stays as it was.
  writeFileSync(to, "mine");
  await expect(blobs.fetch(b.sha256, b.size, to)).rejects.toThrow(`blob ${b.sha256} in ${blobs.name} is damaged: its sha256 is ${got}`);
  expect(readdirSync(into.path)).toEqual(["file"]);
  expect(readFileSync(to, "utf8")).toBe("mine");
});

test("read gives a byte range (inclusive) or the whole blob as a Response body", async () => {
  using dir = tempDir();
  const { blobs } = await freshStore();
  const b = blobFile(dir.path, 100_000);
  await blobs.put(b.path, b.sha256, b.size);
  const bytes = new Uint8Array(readFileSync(b.path));
  const read = async (start?: number, end?: number) => new Uint8Array(await new Response(blobs.read(b.sha256, start, end)).arrayBuffer());

  expect(await read()).toEqual(bytes);
  expect(await read(0, 0)).toEqual(bytes.subarray(0, 1));
  expect(await read(10, 19)).toEqual(bytes.subarray(10, 20));
  expect(await read(99_999, 99_999)).toEqual(bytes.subarray(99_999));
  expect(await read(60_000)).toEqual(bytes.subarray(60_000));
  expect(() => blobs.read(b.sha256, 20, 19)).toThrow(`bad byte range 20-19 of blob ${b.sha256}`);
  expect(() => blobs.read(b.sha256, -1)).toThrow(`bad byte range -1- of blob ${b.sha256}`);
  await expect(new Response(blobs.read("0".repeat(64))).arrayBuffer()).rejects.toMatchObject({ code: "NoSuchKey" });
});

test("list pages through more blobs than a page holds, and skips every key that is not a blob's", async () => {
  using dir = tempDir();
  const { blobs, raw } = await freshStore({ pageSize: 3 });
  const made = Array.from({ length: 8 }, (_, i) => blobFile(dir.path, 10 + i));
  for (const b of made) await blobs.put(b.path, b.sha256, b.size);
  const one = made[0]?.sha256 ?? "";
  const misplaced = one.startsWith("00") ? `sha256/01/${one}` : `sha256/00/${one}`;
  for (const key of foreignKeys(one, misplaced)) await raw.write(key, "not a blob");

  const listed = await all(blobs);
  expect(listed.map(({ sha256, size }) => ({ sha256, size }))).toEqual(
    made.map(({ sha256, size }) => ({ sha256, size })).sort((a, b) => a.sha256.localeCompare(b.sha256)),
  );
  const blobKeys = new Set(made.map((b) => keyOf(b.sha256)));
  const dated = ((await raw.list()).contents ?? []).filter((c) => blobKeys.has(c.key)).map((c) => [c.key, new Date(c.lastModified ?? Number.NaN)]);
  expect(listed.map((b) => [keyOf(b.sha256), b.lastModified])).toEqual(dated);
});

test("a collection (blob-gc.ts) deletes the blobs older than the grace period that no row names and no push claims, and no other key", async () => {
  using dir = tempDir();
  await using table = sqlitePort(openTable(":memory:"), { owned: true });
  const { blobs, raw } = await freshStore({ pageSize: 2 });
  const [refOld, goneOld, claimedOld, markedOld, refYoung, young] = Array.from({ length: 6 }, (_, i) => blobFile(dir.path, 100 + i));
  if (!refOld || !goneOld || !claimedOld || !markedOld || !refYoung || !young) throw new Error("unreachable");
  for (const b of [refOld, goneOld, claimedOld, markedOld]) await blobs.put(b.path, b.sha256, b.size);
  const foreign = foreignKeys(goneOld.sha256, `sha256/zz/${goneOld.sha256}`);
  for (const key of foreign) await raw.write(key, "not a blob");
  // The young ones must be written in a later millisecond of the store's clock than the old ones.
  const oldest = Math.max(...(await all(blobs)).map((b) => b.lastModified.getTime()));
  await untilStoreClockPasses(raw, oldest);
  for (const b of [refYoung, young]) await blobs.put(b.path, b.sha256, b.size);
  const written = new Map((await all(blobs)).map((b) => [b.sha256, b.lastModified.getTime()]));
  const graceMs = 3_600_000;
  // The young ones are exactly graceMs old: kept. The old ones are older: the unreferenced, unclaimed go.
  const nowMs = Math.min(written.get(refYoung.sha256) ?? 0, written.get(young.sha256) ?? 0) + graceMs;
  const upserts = [refOld, refYoung].map((b, i) => up(`f${i}`, MD5_A, 0, { sha256: b.sha256 }));
  expect(await table.blobs.claim([refOld.sha256, refYoung.sha256], "the push of f0 and f1", nowMs)).toEqual([]);
  await table.commit(changeset({ upserts }), { nowMs, source: { stage: "the push of f0 and f1" } });
  await table.blobs.release("the push of f0 and f1");
  expect(await table.blobs.claim([claimedOld.sha256], "a push in flight", nowMs)).toEqual([]);
  // A collection cut short an hour ago left a mark: it is taken over and finished.
  expect(await table.blobs.markGarbage([markedOld.sha256], 0, "a dead collection", nowMs - MARK_LEASE_MS - 1)).toEqual([markedOld.sha256]);
  const collector = createBlobCollector(table, blobs, async () => true);
  expect(await collector.collect({ nowMs, graceMs })).toBe(2);
  const survivors = [refOld, claimedOld, refYoung, young].map((b) => keyOf(b.sha256));
  expect(await keys(raw)).toEqual([...survivors, ...foreign, "clock"].sort());
  expect(await table.blobs.takeOverMarks("anyone", Number.MAX_SAFE_INTEGER, nowMs)).toEqual([]);

  // Later, the young unreferenced one goes too, and the claimed one once its push's claim is older than the grace period.
  const later = Math.max(...written.values()) + graceMs + 1;
  expect(await collector.collect({ nowMs: later, graceMs })).toBe(1);
  expect(await collector.collect({ nowMs: nowMs + graceMs + 1, graceMs })).toBe(1);
  // Not a leader: it collects nothing.
  expect(await createBlobCollector(table, blobs, async () => false).collect({ nowMs: later + graceMs, graceMs: 0 })).toBe(0);
  expect(await keys(raw)).toEqual([keyOf(refOld.sha256), keyOf(refYoung.sha256), ...foreign, "clock"].sort());
});

test("a prefix keeps two stores in one bucket apart", async () => {
  using dir = tempDir();
  const { blobs: plain, raw, bucket } = await freshStore();
  const team = openBlobStore(storeOptions(bucket, "team/b/"));
  expect(team.name).toBe(`s3://${bucket}/team/b`);
  const [both, onlyPlain, onlyTeam] = [blobFile(dir.path, 10), blobFile(dir.path, 11), blobFile(dir.path, 12)];
  for (const [store, b] of [
    [plain, both],
    [plain, onlyPlain],
    [team, both],
    [team, onlyTeam],
  ] as const)
    expect(await store.put(b.path, b.sha256, b.size)).toBe("sent");
  expect(await team.has(onlyPlain.sha256)).toBe(false);
  expect((await all(plain)).map((b) => b.sha256)).toEqual([both.sha256, onlyPlain.sha256].sort());
  expect((await all(team)).map((b) => b.sha256)).toEqual([both.sha256, onlyTeam.sha256].sort());
  expect(await keys(raw)).toEqual(
    [keyOf(both.sha256), keyOf(onlyPlain.sha256), `team/b/${keyOf(both.sha256)}`, `team/b/${keyOf(onlyTeam.sha256)}`].sort(),
  );

  await plain.delete(both.sha256);
  await plain.delete(onlyPlain.sha256);
  expect(await keys(raw)).toEqual([`team/b/${keyOf(both.sha256)}`, `team/b/${keyOf(onlyTeam.sha256)}`].sort());
  await team.fetch(both.sha256, both.size, join(dir.path, "out"));
  expect(readFileSync(join(dir.path, "out"))).toEqual(readFileSync(both.path));
});

test("delete of a blob that is not there is no error; a sha256 that is not 64 lowercase hex is refused", async () => {
  const { blobs } = await freshStore();
  await blobs.delete("a".repeat(64));
  for (const bad of ["A".repeat(64), "a".repeat(63), `${"a".repeat(62)}/x`, "../etc/passwd"]) {
    const message = `not a sha256 (64 lowercase hex digits): ${JSON.stringify(bad)}`;
    await expect(blobs.has(bad)).rejects.toThrow(message);
    await expect(blobs.put("/nonexistent", bad, 0)).rejects.toThrow(message);
    await expect(blobs.fetch(bad, 0, "/nonexistent/x")).rejects.toThrow(message);
    await expect(blobs.delete(bad)).rejects.toThrow(message);
    expect(() => blobs.read(bad)).toThrow(message);
  }
});

test("openBlobStore takes s3://BUCKET[/PREFIX] and refuses anything else with a message saying why", () => {
  const named = (url: string) => openBlobStore({ url }).name;
  expect(["s3://soc-blobs", "s3://soc-blobs/", "s3://soc.blobs-2/a/B_c.d/", "s3://abc/x"].map(named)).toEqual([
    "s3://soc-blobs",
    "s3://soc-blobs",
    "s3://soc.blobs-2/a/B_c.d",
    "s3://abc/x",
  ]);

  const bucketRule = "(3-63 of a-z, 0-9, '.' and '-', starting and ending with a letter or digit, not an IP address)";
  const prefixRule = "(names of A-Z, a-z, 0-9, '.', '_' and '-' between '/', no '.' or '..')";
  const refusal = (opts: BlobStoreOptions) => {
    try {
      openBlobStore(opts);
    } catch (error) {
      return { usage: error instanceof UsageError, message: (error as Error).message };
    }
    return "accepted";
  };
  const refused = (message: string) => ({ usage: true, message });
  expect(
    [
      "soc-blobs",
      "https://user:secret@s3.example.com/soc-blobs",
      "S3://soc-blobs",
      "s3://",
      "s3://ab",
      "s3://Soc_Blobs",
      "s3://-soc",
      "s3://soc..blobs",
      "s3://192.168.1.20",
      `s3://${"a".repeat(64)}`,
      "s3://AKIA123:secret@soc-blobs/p",
      "s3://soc-blobs//",
      "s3://soc-blobs/a//b",
      "s3://soc-blobs/a/../b",
      "s3://soc-blobs/a b",
      "s3://soc-blobs/p?versionId=1",
    ].map((url) => refusal({ url })),
  ).toEqual([
    refused('not an S3 URL: "soc-blobs" (give s3://BUCKET or s3://BUCKET/PREFIX)'),
    refused('not an S3 URL: "https://…@s3.example.com/soc-blobs" (give s3://BUCKET or s3://BUCKET/PREFIX)'),
    refused('not an S3 URL: "S3://soc-blobs" (give s3://BUCKET or s3://BUCKET/PREFIX)'),
    refused(`not an S3 bucket name: "" ${bucketRule}`),
    refused(`not an S3 bucket name: "ab" ${bucketRule}`),
    refused(`not an S3 bucket name: "Soc_Blobs" ${bucketRule}`),
    refused(`not an S3 bucket name: "-soc" ${bucketRule}`),
    refused(`not an S3 bucket name: "soc..blobs" ${bucketRule}`),
    refused(`not an S3 bucket name: "192.168.1.20" ${bucketRule}`),
    refused(`not an S3 bucket name: "${"a".repeat(64)}" ${bucketRule}`),
    refused("an S3 URL holds no keys (s3://…@soc-blobs): give them apart from it"),
    refused(`not a key prefix: "" in s3://soc-blobs// ${prefixRule}`),
    refused(`not a key prefix: "a//b" in s3://soc-blobs/a//b ${prefixRule}`),
    refused(`not a key prefix: "a/../b" in s3://soc-blobs/a/../b ${prefixRule}`),
    refused(`not a key prefix: "a b" in s3://soc-blobs/a b ${prefixRule}`),
    refused(`not a key prefix: "p?versionId=1" in s3://soc-blobs/p?versionId=1 ${prefixRule}`),
  ]);
  expect(refusal({ url: "s3://soc-blobs", accessKeyId: "AKIA123" })).toEqual(
    refused("an S3 access key id and its secret go together: give both or neither"),
  );
});

// ---------------------------------------------------------------------------

/** A store over a new, empty bucket, and a plain client for that bucket to look behind its back. */
async function freshStore(extra: Partial<BlobStoreOptions> = {}): Promise<{ blobs: BlobStore; raw: Bun.S3Client; bucket: string }> {
  const bucket = await ceph.bucket();
  return { blobs: openBlobStore({ ...storeOptions(bucket), ...extra }), raw: new Bun.S3Client(ceph.rgw().s3(bucket)), bucket };
}

function storeOptions(bucket: string, prefix = ""): BlobStoreOptions {
  const { endpoint, accessKeyId, secretAccessKey, region } = ceph.rgw().s3(bucket);
  return { url: `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`, endpoint, accessKeyId, secretAccessKey, region };
}

/** A file of `size` random bytes in `dir`, with its sha256. */
function blobFile(dir: string, size: number): { path: string; sha256: string; size: number } {
  const bytes = new Uint8Array(randomBytes(size));
  const sha256 = sha256Of(bytes);
  const path = join(dir, sha256);
  writeFileSync(path, bytes);
  return { path, sha256, size };
}

function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Where a store without a prefix keeps blob `sha256`. */
function keyOf(sha256: string): string {
  return `sha256/${sha256.slice(0, 2)}/${sha256}`;
}

/** Keys a bucket may hold beside the blobs: none of them may be listed or deleted as one. */
function foreignKeys(sha256: string, misplaced: string): string[] {
  return ["notes.txt", "sha256/ab/not-a-blob", `sha256/${sha256.slice(0, 2)}/${sha256.toUpperCase()}`, `${keyOf(sha256)}/more`, misplaced].sort();
}

/** Every key in the bucket, sorted. */
async function keys(raw: Bun.S3Client): Promise<string[]> {
  return ((await raw.list()).contents ?? []).map((c) => c.key);
}

async function all(blobs: BlobStore): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const b of blobs.list()) out.push(b);
  return out;
}

/** Writes key "clock" until the store dates it after `ms`: what is written from then on is newer than what it dated `ms`. */
async function untilStoreClockPasses(raw: Bun.S3Client, ms: number): Promise<void> {
  for (;;) {
    await raw.write("clock", "tick");
    const listed = (await raw.list({ prefix: "clock" })).contents?.[0]?.lastModified;
    if (listed !== undefined && new Date(listed).getTime() > ms) return;
  }
}
