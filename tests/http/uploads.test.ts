import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { boundedBody } from "../../handlers/uploads.ts";
import { requestedRange } from "../../lib/server/range.ts";
import { md5Bytes } from "../../lib/shared/hash.ts";
import { makeHarness, type Harness } from "../_harness/app.ts";
import { push } from "../_harness/history-fixtures.ts";

const MTIME = "1700000000123456000";
const MiB = 1024 * 1024;

/** PATCHes `bytes` as content `md5` of `size` bytes from `offset`. */
function patch(h: Harness, md5: string, size: number, offset: number, bytes: string) {
  return h.app.handle(new Request(`http://localhost/v1/uploads/${md5}?size=${size}&offset=${offset}`, { method: "PATCH", body: bytes }));
}

async function heldOffset(h: Harness, md5: string, size: number): Promise<string | null> {
  return (await h.call("HEAD", `/v1/uploads/${md5}?size=${size}`)).headers.get("upload-offset");
}

async function place(h: Harness, stage: string, files: { path: string; content: string }[], fromStore = true) {
  const body = {
    stage,
    fromStore,
    files: files.map((f) => ({ path: f.path, md5: md5Bytes(f.content), size: Buffer.byteLength(f.content), mtimeNs: MTIME })),
  };
  const res = await h.call("POST", "/v1/push/place", body);
  return { status: res.status, body: (await res.json()) as { missing?: string[]; error?: { code: string; message: string } } };
}

describe("uploads", () => {
  test("bytes arrive in pieces at the offset the server holds; another offset is refused with the one it holds", async () => {
    await using h = await makeHarness();
    const content = "0123456789abcdef";
    const md5 = md5Bytes(content);
    expect(await heldOffset(h, md5, 16)).toBe("0");
    expect(await (await patch(h, md5, 16, 0, content.slice(0, 6))).json()).toEqual({ offset: 6 });
    expect(await heldOffset(h, md5, 16)).toBe("6");
    const wrong = await patch(h, md5, 16, 0, content);
    expect(wrong.status).toBe(409);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toContain("holds 6 bytes");
    expect(await (await patch(h, md5, 16, 6, content.slice(6))).json()).toEqual({ offset: 16 });
    expect(await heldOffset(h, md5, 16)).toBe("16");
  });

  test("all the bytes of an upload whose request broke off before its check: checked at the next question, kept or dropped", async () => {
    await using h = await makeHarness();
    const uploads = join(h.store.stateDir, "uploads");
    mkdirSync(uploads, { recursive: true });
    writeFileSync(join(uploads, `${md5Bytes("right")}-5.part`), "right");
    writeFileSync(join(uploads, `${md5Bytes("fine!")}-5.part`), "wrong");
    expect(await heldOffset(h, md5Bytes("right"), 5)).toBe("5");
    expect(readdirSync(uploads).sort()).toEqual([`${md5Bytes("fine!")}-5.part`, `${md5Bytes("right")}-5`].sort());
    expect(await heldOffset(h, md5Bytes("fine!"), 5)).toBe("0");
    expect(readdirSync(uploads)).toEqual([`${md5Bytes("right")}-5`]);
  });

  test("more bytes than the size, a bad md5 in the path and a whole upload that hashes otherwise are refused; nothing is kept", async () => {
    await using h = await makeHarness();
    const md5 = md5Bytes("four");
    expect((await patch(h, md5, 4, 0, "fives")).status).toBe(400);
    expect(await heldOffset(h, md5, 4)).toBe("0");
    expect((await patch(h, "not-an-md5", 4, 0, "four")).status).toBe(400);
    const forged = await patch(h, md5, 4, 0, "FOUR");
    expect(forged.status).toBe(422);
    expect(await heldOffset(h, md5, 4)).toBe("0");
  });

  test("place: an upload moves into the stage at each path, the store's copy of the same content serves too (not for a repair), the rest is missing", async () => {
    await using h = await makeHarness();
    await push(h, { "old/same.txt": "already there" });
    const begin = (await (await h.call("POST", "/v1/push/begin", { client: "t" })).json()) as { stage: string; stagePath: string };
    await patch(h, md5Bytes("sent"), 4, 0, "sent");
    const files = [
      { path: "new/sent.txt", content: "sent" },
      { path: "new/copy.txt", content: "already there" },
      { path: "new/empty.txt", content: "" },
      { path: "new/absent.txt", content: "never sent" },
    ];
    expect(await place(h, begin.stage, files, false)).toEqual({ status: 200, body: { missing: ["new/copy.txt", "new/absent.txt"] } });
    expect(await place(h, begin.stage, files.slice(1))).toEqual({ status: 200, body: { missing: ["new/absent.txt"] } });
    expect(readFileSync(join(begin.stagePath, "new/sent.txt"), "utf8")).toBe("sent");
    expect(readFileSync(join(begin.stagePath, "new/copy.txt"), "utf8")).toBe("already there");
    expect(statSync(join(begin.stagePath, "new/empty.txt")).size).toBe(0);
    expect(statSync(join(begin.stagePath, "new/sent.txt")).mtimeMs).toBe(1_700_000_000_123.456);
    // One upload wanted at two paths serves both.
    await patch(h, md5Bytes("twice"), 5, 0, "twice");
    const twice = [
      { path: "two/a.txt", content: "twice" },
      { path: "two/b.txt", content: "twice" },
    ];
    expect(await place(h, begin.stage, twice, false)).toEqual({ status: 200, body: { missing: [] } });
    expect(readFileSync(join(begin.stagePath, "two/a.txt"), "utf8") + readFileSync(join(begin.stagePath, "two/b.txt"), "utf8")).toBe("twicetwice");
    expect((await place(h, `${h.store.id.slice(0, 8)}${"0".repeat(24)}`, files)).status).toBe(400);
    expect((await place(h, begin.stage, [{ path: "../escape", content: "x" }])).status).toBe(400);
  });
});

describe("ranges of GET /v1/content", () => {
  test("a range of the current content is answered 206; another If-Range gets all of it; past the end is 416", async () => {
    await using h = await makeHarness();
    await push(h, { f: "0123456789" });
    const etag = `"${md5Bytes("0123456789")}"`;
    const ranged = await h.call("GET", "/v1/content?path=f", undefined, { range: "bytes=4-", "if-range": etag });
    expect([ranged.status, await ranged.text(), ranged.headers.get("content-range"), ranged.headers.get("etag")]).toEqual([
      206,
      "456789",
      "bytes 4-9/10",
      etag,
    ]);
    const stale = await h.call("GET", "/v1/content?path=f", undefined, { range: "bytes=4-", "if-range": '"0000"' });
    expect([stale.status, await stale.text()]).toEqual([200, "0123456789"]);
    expect((await h.call("GET", "/v1/content?path=f", undefined, { range: "bytes=10-" })).status).toBe(416);
  });

  test("requestedRange reads one range, the last N bytes, and leaves the rest to a whole answer", () => {
    expect(requestedRange("bytes=2-5", null, '"e"', 10)).toEqual({ start: 2, end: 5 });
    expect(requestedRange("bytes=2-99", null, '"e"', 10)).toEqual({ start: 2, end: 9 });
    expect(requestedRange("bytes=-3", null, '"e"', 10)).toEqual({ start: 7, end: 9 });
    expect(requestedRange("bytes=12-", null, '"e"', 10)).toBe("unsatisfiable");
    for (const range of [null, "bytes=1-2,4-5", "items=1-2", "bytes=-", "bytes=5-2"]) expect(requestedRange(range, null, '"e"', 10)).toBeUndefined();
    expect(requestedRange("bytes=2-", '"other"', '"e"', 10)).toBeUndefined();
  });
});

describe("bodies without a Content-Length", () => {
  test("outside the uploads, one past the body limit is refused without being held: Bun lets any size through for the uploads", async () => {
    await using h = await makeHarness();
    const chunk = new Uint8Array(MiB).fill(32);
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(out) {
        sent += chunk.byteLength;
        if (sent > 80 * MiB) out.close();
        else out.enqueue(chunk);
      },
    });
    const request = new Request("http://localhost/v1/push/part", { method: "POST", body: endless, headers: { "content-type": "application/json" } });
    const res = await h.app.handle(boundedBody(request));
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(70 * MiB);
  });
});
