import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes } from "../../lib/shared/hash.ts";
import { changesSince } from "../../lib/server/table.ts";
import { makeHarness } from "../_harness/app.ts";
import { BINARY, content, DAY, push, T0, utf8 } from "../_harness/history-fixtures.ts";
import { tree } from "../_harness/fs.ts";

describe("versions", () => {
  test("an overwrite and a delete keep the old content, readable byte for byte and restorable", async () => {
    await using h = await makeHarness();
    await push(h, { a: `one ${BINARY}`, keep: "k" });
    await push(h, { a: `two ${BINARY}` }, 1);
    expect((await push(h, {}, 2, ["a"])).body).toEqual({ revision: 3, stored: [], deleted: ["a"] });
    expect(tree(join(h.store.stateDir, "versions"))).toEqual({ "1/a": utf8(`one ${BINARY}`), "2/a": utf8(`two ${BINARY}`) });

    const old = await content(h, "path=a&rev=1");
    expect([old.status, old.body, old.headers.get("content-type"), old.headers.get("content-length")]).toEqual([
      200,
      utf8(`one ${BINARY}`),
      "application/octet-stream",
      String(Buffer.byteLength(`one ${BINARY}`)),
    ]);
    expect([old.headers.get("x-soc-rev"), old.headers.get("x-soc-md5")]).toEqual(["1", md5Bytes(`one ${BINARY}`)]);
    expect((await content(h, "path=a&rev=2")).body).toBe(utf8(`two ${BINARY}`));
    expect((await content(h, "path=keep&rev=3")).body).toBe("k");

    // Default: the newest kept version, i.e. the content just before the deletion.
    const res = await h.call("POST", "/v1/restore", { client: "laptop", paths: [{ path: "a" }] });
    expect(await res.json()).toEqual({ revision: 4, restored: [{ path: "a", fromRev: 2 }] });
    expect(readFileSync(join(h.store.root, "a"), "latin1")).toBe(utf8(`two ${BINARY}`));
    expect(changesSince(h.table, 3).files).toEqual([
      {
        path: "a",
        size: Buffer.byteLength(`two ${BINARY}`),
        md5: md5Bytes(`two ${BINARY}`),
        mode: 0o644,
        mtimeNs: "1700000000123456789",
        rev: 4,
        deleted: false,
      },
    ]);
    expect((await content(h, "path=a")).body).toBe(utf8(`two ${BINARY}`));

    // An explicit revision; the current content becomes a version itself.
    expect(await (await h.call("POST", "/v1/restore", { client: "laptop", paths: [{ path: "a", rev: 1 }] })).json()).toEqual({
      revision: 5,
      restored: [{ path: "a", fromRev: 1 }],
    });
    expect(readFileSync(join(h.store.root, "a"), "latin1")).toBe(utf8(`one ${BINARY}`));
    expect(tree(join(h.store.stateDir, "versions"))["4/a"]).toBe(utf8(`two ${BINARY}`));
    // Restoring what is already current changes nothing.
    expect(await (await h.call("POST", "/v1/restore", { client: "laptop", paths: [{ path: "a", rev: 5 }] })).json()).toEqual({
      revision: 5,
      restored: [],
    });
  });

  test("content that is not there is a 404 saying why", async () => {
    await using h = await makeHarness();
    await push(h, { a: "1", b: "1" });
    await push(h, { c: "new" }, 1, ["a"]);
    const cases: [string, string][] = [
      ["path=nope", '"nope" has never existed on the server'],
      ["path=a", '"a" was deleted at revision 2'],
      ["path=c&rev=1", '"c" did not exist yet at revision 1 (added at revision 2)'],
      ["path=b&rev=9", "revision 9 does not exist; the server is at revision 2"],
    ];
    for (const [query, message] of cases) {
      const res = await h.call("GET", `/v1/content?${query}`);
      expect([res.status, await res.json()]).toEqual([404, { error: { code: "not_found", message } }]);
    }
    const bad = await h.call("GET", "/v1/content?path=../etc/passwd");
    expect([bad.status, await bad.json()]).toEqual([400, { error: { code: "bad_path", message: 'bad path "../etc/passwd": contains ".."' } }]);
  });

  test("restoring an unknown path or revision is a 404 naming it, and changes nothing", async () => {
    await using h = await makeHarness();
    await push(h, { a: "1", b: "1" });
    await push(h, { a: "2" }, 1);
    const before = [changesSince(h.table, 0), tree(h.store.root), tree(join(h.store.stateDir, "versions"))];
    const cases: [unknown[], string][] = [
      [[{ path: "a" }, { path: "nope" }], '"nope" has never existed on the server'],
      [[{ path: "b" }], 'no earlier content of "b" is kept to restore'],
      [[{ path: "a", rev: 7 }], "revision 7 does not exist; the server is at revision 2"],
    ];
    for (const [paths, message] of cases) {
      const res = await h.call("POST", "/v1/restore", { client: "x", paths });
      expect([res.status, await res.json()]).toEqual([404, { error: { code: "not_found", message } }]);
    }
    expect([changesSince(h.table, 0), tree(h.store.root), tree(join(h.store.stateDir, "versions"))]).toEqual(before);
  });

  test("a restored file may not land under a live file", async () => {
    await using h = await makeHarness();
    await push(h, { d: "file", other: "o" });
    await push(h, { "d/x": "now a dir" }, 1, ["d"]);
    const res = await h.call("POST", "/v1/restore", { client: "x", paths: [{ path: "d" }] });
    expect([res.status, await res.json()]).toEqual([
      409,
      {
        error: { code: "path_clash", message: 'cannot restore "d": a file would sit under another file, or over a directory of files', paths: ["d"] },
      },
    ]);
  });
});

describe("GET /v1/log", () => {
  test("revisions newest first with counts; a path's history says what can still be restored", async () => {
    let clock = T0;
    await using h = await makeHarness(undefined, { now: () => clock, keepDays: 30 });
    await push(h, { a: "1", b: "1", c: "1" });
    clock = T0 + DAY;
    await push(h, { a: "22", d: "1" }, 1, ["b"]);
    const log = await (await h.call("GET", "/v1/log")).json();
    expect(log).toEqual({
      revisions: [
        { rev: 2, at: new Date(T0 + DAY).toISOString(), client: "test", added: 1, modified: 1, deleted: 1 },
        { rev: 1, at: new Date(T0).toISOString(), client: "test", added: 3, modified: 0, deleted: 0 },
      ],
    });
    expect(((await (await h.call("GET", "/v1/log?limit=1")).json()) as { revisions: unknown[] }).revisions).toHaveLength(1);

    clock = T0 + 32 * DAY;
    await push(h, { a: "333" }, 2);
    const history = await (await h.call("GET", "/v1/log?path=a")).json();
    expect(history).toMatchObject({
      path: "a",
      revisions: [{ rev: 3 }, { rev: 2 }, { rev: 1 }],
      history: [
        { rev: 3, action: "modified", size: 3, md5: md5Bytes("333"), available: true },
        { rev: 2, action: "modified", size: 2, md5: md5Bytes("22"), available: true },
        { rev: 1, action: "added", size: 1, md5: md5Bytes("1"), available: false },
      ],
    });
    expect(await (await h.call("GET", "/v1/log?path=b")).json()).toMatchObject({
      history: [
        { rev: 2, action: "deleted", size: 0, md5: "", available: false },
        { rev: 1, action: "added", available: false },
      ],
    });
    expect(await (await h.call("GET", "/v1/log?path=never")).json()).toEqual({ revisions: [], path: "never", history: [] });
    const bad = await h.call("GET", "/v1/log?limit=0");
    expect(bad.status).toBe(400);
  });
});
