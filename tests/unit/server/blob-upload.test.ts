import { expect, test } from "bun:test";
import { join } from "node:path";
import { uploadBlobs } from "../../../lib/server/blob-upload.ts";
import { openBlobStore } from "../../../lib/server/s3-blobs.ts";
import { sqlitePort } from "../../../lib/server/sqlite-port.ts";
import { openTable } from "../../../lib/server/table.ts";
import { tempDir, writeFile } from "../../_harness/fs.ts";
import { freePort } from "../../_harness/proc.ts";

test("an object store that cannot be reached fails the push with a 503 naming the store and why, its claims kept until the push is dropped", async () => {
  using dir = tempDir();
  await using table = sqlitePort(openTable(":memory:"), { owned: true });
  // Nothing listens there: every request is refused.
  const blobs = openBlobStore({ url: "s3://soc-test", endpoint: `http://127.0.0.1:${freePort()}`, accessKeyId: "id", secretAccessKey: "secret" });
  writeFile(dir.path, "a", "content");
  const sha256 = new Bun.CryptoHasher("sha256").update("content").digest("hex");
  const failed = await uploadBlobs({ table, blobs, now: () => 1000 }, "stage-1", [join(dir.path, "a")], [{ size: 7 }], [sha256]).catch(
    (e: unknown) => e,
  );
  expect(failed).toMatchObject({ code: "object_store", status: 503 });
  expect((failed as Error).message).toStartWith("the server could not put this push's content in its object store (s3://soc-test: could not ");
  expect((failed as Error).message).toEndWith("); push again later");
  expect((failed as Error).message).not.toContain("secret");
  // Claimed: a collection leaves it until the push is dropped (abandonPush releases the claims).
  expect(await table.blobs.markGarbage([sha256], 0, "gc", 2000)).toEqual([]);
  await table.blobs.release("stage-1");
  expect(await table.blobs.markGarbage([sha256], 0, "gc", 2000)).toEqual([sha256]);
});
