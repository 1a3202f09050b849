import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { startRgw, type TestRgw } from "../../_harness/ceph-rgw.ts";

// A real S3 endpoint (Ceph RGW, tests/_harness/ceph-rgw.ts) driven through Bun's own S3 client:
// what later S3 storage relies on, checked once here.
let rgw: TestRgw;
let buckets = 0;
beforeAll(async () => {
  rgw = await startRgw();
}, 300_000);
afterAll(async () => {
  await rgw?.[Symbol.asyncDispose]();
});
/** A client for a new, empty bucket of its own for one test. */
const freshBucket = async () => new Bun.S3Client(rgw.s3(await rgw.createBucket(`soc-test-${++buckets}`)));

test("bytes written are read back exactly, whole or a range, and stat tells their size", async () => {
  const s3 = await freshBucket();
  const bytes = new Uint8Array(randomBytes(300_000));
  await s3.write("dir/blob.bin", bytes);

  expect(new Uint8Array(await s3.file("dir/blob.bin").arrayBuffer())).toEqual(bytes);
  expect((await s3.stat("dir/blob.bin")).size).toBe(300_000);
  expect(new Uint8Array(await s3.file("dir/blob.bin").slice(299_990, 300_000).arrayBuffer())).toEqual(bytes.subarray(299_990));
  expect(new Uint8Array(await s3.file("dir/blob.bin").slice(1_000, 1_016).arrayBuffer())).toEqual(bytes.subarray(1_000, 1_016));
});

test("a listing by prefix pages through more keys than one page holds, and nothing outside the prefix", async () => {
  const s3 = await freshBucket();
  const keys = Array.from({ length: 7 }, (_, i) => `photos/${i}.jpg`);
  await Promise.all([...keys, "photos.txt", "notes/photos/1.jpg"].map((key) => s3.write(key, key)));

  const pages: string[][] = [];
  let continuationToken: string | undefined;
  do {
    const page = await s3.list({ prefix: "photos/", maxKeys: 3, continuationToken });
    pages.push((page.contents ?? []).map((c) => c.key));
    continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
  } while (continuationToken);

  expect(pages).toEqual([keys.slice(0, 3), keys.slice(3, 6), keys.slice(6)]);
});

test("exists and delete: a deleted key is gone and reading it is NoSuchKey", async () => {
  const s3 = await freshBucket();
  expect(await s3.exists("note.txt")).toBe(false);
  await s3.write("note.txt", "hello");
  expect(await s3.exists("note.txt")).toBe(true);

  await s3.delete("note.txt");
  expect(await s3.exists("note.txt")).toBe(false);
  await expect(s3.file("note.txt").text()).rejects.toMatchObject({ code: "NoSuchKey" });
});

test("two buckets are independent: same key, own content, a delete in one leaves the other", async () => {
  const [a, b] = [await freshBucket(), await freshBucket()];
  await a.write("same.txt", "in a");
  await b.write("same.txt", "in b");
  await b.write("only-b.txt", "b");
  expect([await a.file("same.txt").text(), await b.file("same.txt").text()]).toEqual(["in a", "in b"]);

  await a.delete("same.txt");
  expect((await a.list()).contents ?? []).toEqual([]);
  expect(((await b.list()).contents ?? []).map((c) => c.key)).toEqual(["only-b.txt", "same.txt"]);
});

test("requests signed with another secret are refused", async () => {
  const bucket = await rgw.createBucket(`soc-test-${++buckets}`);
  const wrong = new Bun.S3Client({ ...rgw.s3(bucket), secretAccessKey: "not-the-secret" });
  await expect(wrong.write("x.txt", "x")).rejects.toMatchObject({ code: "SignatureDoesNotMatch" });
});

test("createBucket refuses a name it already created, and one S3 does not allow", async () => {
  const bucket = await rgw.createBucket(`soc-test-${++buckets}`);
  await expect(rgw.createBucket(bucket)).rejects.toThrow(`bucket ${bucket} was created already`);
  await expect(rgw.createBucket("ab")).rejects.toThrow("not a plain bucket name (3-63 of a-z, 0-9, -): ab");
});
