import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { changesSince } from "../../lib/server/table.ts";
import { makeHarness, type Harness } from "../_harness/app.ts";
import { upsertOf } from "../_harness/upserts.ts";

/** Asserts a 4xx in the error shape and returns its body. */
async function expectRefused(res: Response, status = 400): Promise<{ error: { code: string; message: string } }> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error.code).toBe("string");
  expect(typeof body.error.message).toBe("string");
  return body;
}

/** Everything under the harness dir (store, state, outside) — to prove nothing new appeared. */
function listing(h: Harness): string[] {
  return readdirSync(dirname(h.store.root), { recursive: true }).map(String).sort();
}

const upsert = (path: string) => upsertOf(path, "x", 0, { mtimeNs: "1" });

describe("hostile input", () => {
  test("paths that escape, are absolute, hold NUL or a .soc at any depth are refused by name; nothing changes", async () => {
    await using h = await makeHarness();
    const { stage } = await h.stage({});
    const before = listing(h).filter((p) => !p.includes(stage)); // a refused commit removes its stage, and only that
    const cases: [string, string][] = [
      ["../x", 'bad path "../x": contains ".."'],
      ["/etc/passwd", 'bad path "/etc/passwd": absolute'],
      ["a/../../b", 'bad path "a/../../b": contains ".."'],
      ["a\0b", 'bad path "a\\u0000b": contains NUL'],
      [".soc/state.db", 'bad path ".soc/state.db": contains ".soc", which holds soc\'s own state'],
      ["sub/.soc/config.json", 'bad path "sub/.soc/config.json": contains ".soc", which holds soc\'s own state'],
    ];
    for (const [path, message] of cases) {
      for (const over of [
        { upserts: [upsert(path)] },
        { deletes: [{ path, baseRev: 0 }] },
        { roots: { set: [{ path, kind: "dir" as const }], remove: [] } },
      ]) {
        expect(await expectRefused(await h.commit({ stage, ...over }))).toEqual({ error: { code: "bad_path", message } });
      }
    }
    expect(listing(h)).toEqual(before);
    expect(changesSince(h.table, 0)).toEqual({ revision: 0, files: [], roots: [] });
  });

  test("malformed JSON and wrong shapes are 400s that name the field, not a schema dump", async () => {
    await using h = await makeHarness();
    const { stage } = await h.stage({});
    const base = { stage, client: "c", upserts: [], deletes: [], roots: { set: [], remove: [] } };
    const cases: [unknown, string][] = [
      ["{not json", "malformed request body (expected JSON)"],
      [[], "invalid body.stage: Expected required property"],
      [{ ...base, client: undefined }, "invalid body.client: Expected string"],
      [{ ...base, stage: "../../etc" }, "invalid body.stage: Expected string to match '^[0-9a-f]{32}$'"],
      [{ ...base, upserts: [{ ...upsert("a"), md5: "zz" }] }, "invalid body.upserts[0].md5: Expected string to match '^[0-9a-f]{32}$'"],
      [{ ...base, upserts: [{ ...upsert("a"), size: -1 }] }, "invalid body.upserts[0].size: wrong type or format"],
      [{ ...base, upserts: [{ ...upsert("a"), mtimeNs: 1 }] }, "invalid body.upserts[0].mtimeNs: Expected string"],
      [{ ...base, deletes: [{ path: "a" }] }, "invalid body.deletes[0].baseRev: Expected required property"],
      [{ ...base, roots: { set: [{ path: "a", kind: "weird" }], remove: [] } }, "invalid body.roots.set[0].kind: wrong type or format"],
    ];
    for (const [body, message] of cases) {
      const got = await expectRefused(await h.call("POST", "/v1/push/commit", body));
      expect(got).toEqual({ error: { code: "bad_request", message } });
    }
    expect(await expectRefused(await h.call("POST", "/v1/push/begin", { client: 7 }))).toEqual({
      error: { code: "bad_request", message: "invalid body.client: Expected string" },
    });
    expect(changesSince(h.table, 0)).toEqual({ revision: 0, files: [], roots: [] });
  });

  test("a body declared over the limit is refused with 413 before it is read", async () => {
    await using h = await makeHarness();
    const res = await h.app.handle(
      new Request("http://localhost/v1/push/begin", {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": String(65 * 1024 * 1024) },
        body: "{}",
      }),
    );
    expect(await expectRefused(res, 413)).toEqual({ error: { code: "too_large", message: "request body over 67108864 bytes" } });
  });

  test("duplicate paths are refused", async () => {
    await using h = await makeHarness();
    const { stage, upserts } = await h.stage({ a: "x" });
    const res = await h.commit({ stage, upserts, deletes: [{ path: "a", baseRev: 0 }] });
    expect(await expectRefused(res)).toEqual({ error: { code: "bad_request", message: 'path "a" appears twice in the changeset' } });
  });
});
