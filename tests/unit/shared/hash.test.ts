import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes, md5File, md5Files } from "../../../lib/shared/hash.ts";
import { tempDir } from "../../_harness/fs.ts";

const EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e";
const ABC_MD5 = "900150983cd24fb0d6963f7d28e17f72";

/** Independent reference digest (node:crypto), to check lib/hash.ts against. */
const ref = (data: Uint8Array | string) => createHash("md5").update(data).digest("hex");

describe("md5Bytes", () => {
  test("matches the RFC 1321 digests of '' and 'abc'", () => {
    expect([md5Bytes(""), md5Bytes("abc"), md5Bytes(new TextEncoder().encode("abc"))]).toEqual([EMPTY_MD5, ABC_MD5, ABC_MD5]);
  });
});

describe("md5File", () => {
  test("hashes an empty file, a small one and one spanning several 1 MiB reads", () => {
    using dir = tempDir();
    const big = new Uint8Array(2.5 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff);
    writeFileSync(join(dir.path, "empty"), "");
    writeFileSync(join(dir.path, "abc"), "abc");
    writeFileSync(join(dir.path, "big"), big);
    expect([md5File(join(dir.path, "empty")), md5File(join(dir.path, "abc")), md5File(join(dir.path, "big"))]).toEqual([
      EMPTY_MD5,
      ABC_MD5,
      ref(big),
    ]);
  });

  test("a missing file throws the fs error", () => {
    using dir = tempDir();
    expect(() => md5File(join(dir.path, "nope"))).toThrow("ENOENT");
  });
});

describe("md5Files", () => {
  test("an empty list gives an empty result", async () => {
    expect(await md5Files([])).toEqual([]);
  });

  test("results follow input order; only a missing file gives null, any other error names itself", async () => {
    using dir = tempDir();
    writeFileSync(join(dir.path, "a"), "abc");
    writeFileSync(join(dir.path, "b"), "");
    mkdirSync(join(dir.path, "sub"));
    const paths = ["b", "missing", "a", "sub", "a/under-a-file", "a"].map((p) => join(dir.path, p));
    expect(await md5Files(paths)).toEqual([EMPTY_MD5, null, ABC_MD5, { error: "EISDIR" }, null, ABC_MD5]);
  });

  test("with helper workers, order and nulls are kept and odd names hash like any other", async () => {
    using dir = tempDir();
    const odd = ["with space", "new\nline", "tab\there", "é NFC", "e\u0301 NFD", "日本語", "-e", '"quoted"', "back\\slash"];
    const paths: string[] = [];
    const want: (string | null)[] = [];
    for (let i = 0; i < 3000; i++) {
      const name = `${odd[i % odd.length]} ${i}`;
      const content = `file ${i}\n`.repeat(i % 50);
      if (i % 997 !== 5) writeFileSync(join(dir.path, name), content);
      paths.push(join(dir.path, name));
      want.push(i % 997 === 5 ? null : ref(content));
    }
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    writeFileSync(join(dir.path, "big one"), big);
    paths.splice(1500, 0, join(dir.path, "big one"));
    want.splice(1500, 0, ref(big));
    expect(await md5Files(paths, { helpAfterMs: 0 })).toEqual(want);
    expect(await md5Files(paths)).toEqual(want);
  });
});
