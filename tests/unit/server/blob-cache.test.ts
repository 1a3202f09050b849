import { describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CACHE_MARKER, openBlobCache, parseCacheSize } from "../../../lib/server/blob-cache.ts";
import { openBlobStore, type BlobStore } from "../../../lib/server/s3-blobs.ts";
import { rgwForTests } from "../../_harness/ceph-rgw.ts";
import { tempDir } from "../../_harness/fs.ts";

// Over a real S3 endpoint (Ceph RGW); each test has a bucket of its own.
const ceph = rgwForTests("soc-cache");

const SIZE = 1000;

/** A bucket with `count` blobs of SIZE random bytes, and the store over it counting its fetches. */
async function bucketWith(
  dir: string,
  count: number,
): Promise<{ blobs: BlobStore; fetches: string[]; bytes: Map<string, Uint8Array>; keys: string[] }> {
  const bucket = await ceph.bucket();
  const { endpoint, accessKeyId, secretAccessKey, region } = ceph.rgw().s3(bucket);
  const store = openBlobStore({ url: `s3://${bucket}`, endpoint, accessKeyId, secretAccessKey, region });
  const bytes = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    const content = new Uint8Array(randomBytes(SIZE));
    const sha256 = createHash("sha256").update(content).digest("hex");
    const file = join(dir, `up-${i}`);
    writeFileSync(file, content);
    await store.put(file, sha256, SIZE);
    bytes.set(sha256, content);
  }
  const fetches: string[] = [];
  // The real store; only its fetches are counted on the way through.
  const blobs: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    fetch: (sha256: string, size: number, to: string) => {
      fetches.push(sha256);
      return store.fetch(sha256, size, to);
    },
  });
  return { blobs, fetches, bytes, keys: [...bytes.keys()] };
}

describe("openBlobCache", () => {
  test("lets the least recently used blobs go past its size; a link made before stays whole", async () => {
    using dir = tempDir();
    const { blobs, fetches, bytes, keys } = await bucketWith(dir.path, 5);
    const [a, b, c, d, e] = keys as [string, string, string, string, string];
    const cache = openBlobCache(join(dir.path, "cache"), blobs, 3 * SIZE);
    const out = join(dir.path, "out");
    mkdirSync(out);
    for (const k of [a, b, c]) await cache.linkTo(k, SIZE, join(out, k));
    expect(cache.size()).toBe(3 * SIZE);
    await cache.linkTo(b, SIZE, join(out, "b again")); // b is used again: a and c are now the oldest
    await cache.linkTo(d, SIZE, join(out, d)); // a goes
    await cache.linkTo(e, SIZE, join(out, e)); // c goes
    expect(cache.size()).toBe(3 * SIZE);
    expect(
      readdirSync(join(dir.path, "cache"))
        .filter((n) => n !== CACHE_MARKER)
        .flatMap((s) => readdirSync(join(dir.path, "cache", s)))
        .sort(),
    ).toEqual([b, d, e].sort());
    // The links outlive the cache's copies.
    for (const k of keys) expect(readFileSync(join(out, k))).toEqual(Buffer.from(bytes.get(k) as Uint8Array));
    // Fetched once each; b's second use came from the cache, a again from the bucket.
    expect(fetches).toEqual([a, b, c, d, e]);
    await cache.linkTo(a, SIZE, join(out, "a again"));
    expect(fetches.at(-1)).toBe(a);
  });

  test("sessions asking for one blob at once share one fetch", async () => {
    using dir = tempDir();
    const { blobs, fetches, keys } = await bucketWith(dir.path, 1);
    const key = keys[0] as string;
    const cache = openBlobCache(join(dir.path, "cache"), blobs, 10 * SIZE);
    await Promise.all(Array.from({ length: 5 }, (_, i) => cache.linkTo(key, SIZE, join(dir.path, `l${i}`))));
    expect(fetches).toEqual([key]);
    expect(cache.size()).toBe(SIZE);
  });

  test("sessions linking many blobs at once through a cache of one: each gets its own bytes, and the cache ends within its size", async () => {
    using dir = tempDir();
    const { blobs, bytes, keys } = await bucketWith(dir.path, 8);
    const cache = openBlobCache(join(dir.path, "cache"), blobs, SIZE);
    // Every fetch is under way at once: each blob is pinned from its fetch to its link, whatever the others' trims.
    await Promise.all(keys.map((k) => cache.linkTo(k, SIZE, join(dir.path, `l-${k}`))));
    for (const k of keys) expect(readFileSync(join(dir.path, `l-${k}`))).toEqual(Buffer.from(bytes.get(k) as Uint8Array));
    expect(cache.size()).toBeLessThanOrEqual(SIZE);
  });

  test("reopened, it counts what it holds, drops a fetch cut short, and fetches again a blob whose size is wrong", async () => {
    using dir = tempDir();
    const { blobs, fetches, bytes, keys } = await bucketWith(dir.path, 2);
    const [a, b] = keys as [string, string];
    const root = join(dir.path, "cache");
    {
      const cache = openBlobCache(root, blobs, 10 * SIZE);
      for (const k of keys) await cache.linkTo(k, SIZE, join(dir.path, `first-${k}`));
    }
    writeFileSync(join(root, a.slice(0, 2), ".soc-tmp-0123456789abcdef"), "half a fetch");
    writeFileSync(join(root, b.slice(0, 2), b), "cut short");
    const cache = openBlobCache(root, blobs, 10 * SIZE);
    expect(existsSync(join(root, a.slice(0, 2), ".soc-tmp-0123456789abcdef"))).toBe(false);
    expect(cache.size()).toBe(SIZE + "cut short".length);
    fetches.length = 0;
    for (const k of keys) await cache.linkTo(k, SIZE, join(dir.path, `again-${k}`));
    expect(fetches).toEqual([b]);
    for (const k of keys) expect(readFileSync(join(dir.path, `again-${k}`))).toEqual(Buffer.from(bytes.get(k) as Uint8Array));
    expect(cache.size()).toBe(2 * SIZE);
  });

  test("check lets go of a blob whose bytes are not its sha256, and only that one", async () => {
    using dir = tempDir();
    const { blobs, keys } = await bucketWith(dir.path, 2);
    const [a, b] = keys as [string, string];
    const root = join(dir.path, "cache");
    const cache = openBlobCache(root, blobs, 10 * SIZE);
    for (const k of keys) await cache.linkTo(k, SIZE, join(dir.path, `l-${k}`));
    writeFileSync(join(dir.path, `l-${a}`), randomBytes(SIZE)); // a link: the cache's copy is that very file
    expect(await cache.check()).toEqual([a]);
    expect(existsSync(join(root, a.slice(0, 2), a))).toBe(false);
    expect(existsSync(join(root, b.slice(0, 2), b))).toBe(true);
    expect(cache.size()).toBe(SIZE);
  });

  test("refuses a directory holding files that is no cache, touching nothing (a new filesystem's lost+found aside); a blob the bucket lacks is an error naming it", async () => {
    using dir = tempDir();
    const { blobs } = await bucketWith(dir.path, 0);
    writeFileSync(join(dir.path, "notes.txt"), "mine");
    expect(() => openBlobCache(dir.path, blobs, SIZE)).toThrow(`${dir.path} holds files but is no soc cache: give --cache a new or empty directory`);
    expect(readdirSync(dir.path)).toEqual(["notes.txt"]);
    mkdirSync(join(dir.path, "mount/lost+found"), { recursive: true }); // a filesystem of its own, new
    expect(openBlobCache(join(dir.path, "mount"), blobs, SIZE).size()).toBe(0);
    const cache = openBlobCache(join(dir.path, "cache"), blobs, SIZE);
    const missing = "f".repeat(64);
    await expect(cache.linkTo(missing, 3, join(dir.path, "nothing"))).rejects.toThrow(`blob ${missing} is missing from`);
    await expect(cache.linkTo("not-a-sha", 3, join(dir.path, "nothing"))).rejects.toThrow('not a sha256: "not-a-sha"');
  });
});

describe("parseCacheSize", () => {
  test("bytes, or K, M, G, T of them (binary), with an optional iB or B; nothing else", () => {
    expect(["4096", "512K", "512M", "20G", "2GiB", "1T", "3gb"].map(parseCacheSize)).toEqual([
      4096,
      512 * 1024,
      512 * 1024 ** 2,
      20 * 1024 ** 3,
      2 * 1024 ** 3,
      1024 ** 4,
      3 * 1024 ** 3,
    ]);
    for (const bad of ["", "0", "-1", "1.5G", "lots", "10 P", "12X"]) expect(parseCacheSize(bad)).toBeUndefined();
  });
});
