import { describe, expect, test } from "bun:test";
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes } from "../../lib/shared/hash.ts";
import { changesSince } from "../../lib/server/table.ts";
import { makeHarness } from "../_harness/app.ts";
import { content, DAY, push, T0 } from "../_harness/history-fixtures.ts";
import { tree } from "../_harness/fs.ts";

describe("retention", () => {
  test("a commit 31 days on sweeps the versions replaced more than 30 days ago, and only those", async () => {
    let clock = T0;
    await using h = await makeHarness(undefined, { now: () => clock });
    await push(h, { a: "v1", b: "b" });
    await push(h, { a: "v2" }, 1);
    clock = T0 + 2 * DAY;
    await push(h, { a: "v3" }, 2);
    expect(tree(join(h.store.stateDir, "versions"))).toEqual({ "1/a": "v1", "2/a": "v2" });
    clock = T0 + 31 * DAY;
    await push(h, { c: "new" }, 3);
    expect(tree(join(h.store.stateDir, "versions"))).toEqual({ "2/a": "v2" });
    expect(readdirSync(join(h.store.stateDir, "versions"))).toEqual(["2"]);
    const gone = await h.call("GET", "/v1/content?path=a&rev=1");
    expect([gone.status, await gone.json()]).toEqual([
      404,
      {
        error: {
          code: "not_found",
          message: `the content of "a" written at revision 1 is no longer kept (old versions expire after the server's --keep-days)`,
        },
      },
    ]);
    expect((await content(h, "path=a&rev=2")).body).toBe("v2");
  });

  test("--keep-days 0 keeps nothing: replaced files are unlinked", async () => {
    await using h = await makeHarness(undefined, { keepDays: 0 });
    await push(h, { a: "v1", b: "b" });
    await push(h, { a: "v2" }, 1);
    await push(h, {}, 2, ["a"]);
    expect(tree(join(h.store.stateDir, "versions"))).toEqual({});
    expect(tree(h.store.root)).toEqual({ b: "b" });
    const res = await h.call("POST", "/v1/restore", { client: "x", paths: [{ path: "a" }] });
    expect([res.status, await res.json()]).toEqual([404, { error: { code: "not_found", message: 'no earlier content of "a" is kept to restore' } }]);
  });
});

describe("mass deletion", () => {
  test("deleting more than half of 10+ files, or all of 2+, is refused unless allowed", async () => {
    await using h = await makeHarness();
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, String(i)]));
    await push(h, ten);
    const before = [changesSince(h.table, 0), tree(h.store.root)];
    const six = ["f0", "f1", "f2", "f3", "f4", "f5"];
    expect(await push(h, {}, 1, six)).toEqual({
      status: 409,
      body: {
        error: {
          code: "mass_delete",
          message: "this push would delete 6 of the 10 files on the server (more than half); pass --allow-mass-delete if that is intended",
        },
      },
    });
    expect([changesSince(h.table, 0), tree(h.store.root)]).toEqual(before);
    expect((await push(h, {}, 1, six.slice(0, 5))).body).toMatchObject({ revision: 2 });
    expect((await push(h, {}, 2, ["f5", "f6", "f7", "f8", "f9"])).body).toEqual({
      error: { code: "mass_delete", message: "this push would delete all 5 files on the server; pass --allow-mass-delete if that is intended" },
    });
    expect((await push(h, {}, 2, ["f5", "f6", "f7", "f8", "f9"], true)).body).toMatchObject({ revision: 3 });
    expect(tree(h.store.root)).toEqual({});
  });
});

describe("POST /v1/verify", () => {
  test("finds store files changed behind the server's back (mtime put back) and missing ones", async () => {
    await using h = await makeHarness();
    await push(h, { ok: "fine", bad: "original", gone: "here", "d/deep": "x" });
    expect(await (await h.call("POST", "/v1/verify")).json()).toEqual({ checked: 4, mismatches: [] });
    const bad = join(h.store.root, "bad");
    const st = statSync(bad);
    writeFileSync(bad, "ORIGINAL");
    utimesSync(bad, st.atime, st.mtime);
    rmSync(join(h.store.root, "gone"));
    expect(await (await h.call("POST", "/v1/verify")).json()).toEqual({
      checked: 4,
      mismatches: [
        { path: "bad", expected: md5Bytes("original"), actual: md5Bytes("ORIGINAL") },
        { path: "gone", expected: md5Bytes("here"), actual: null },
      ],
    });
  });
});
