import { describe, expect, test } from "bun:test";
import type { Changes } from "../../lib/shared/protocol.ts";
import { enterJournal, leaveJournal, storePlaced } from "../../lib/server/journal-gate.ts";
import { makeHarness } from "../_harness/app.ts";

describe("GET /v1/changes", () => {
  test("returns rows after `since`, tombstones included, and every root rule", async () => {
    await using h = await makeHarness();
    const first = await h.stage({ "a.txt": "A", "b/c.txt": "C" });
    const roots = { set: [{ path: "", kind: "dir" as const }], remove: [] };
    expect((await h.commit({ ...first, roots })).status).toBe(200);
    const second = await h.stage({});
    expect((await h.commit({ ...second, deletes: [{ path: "a.txt", baseRev: 1 }] })).status).toBe(200);

    const all = (await (await h.call("GET", "/v1/changes?since=0")).json()) as Changes;
    expect(all).toEqual({
      revision: 2,
      files: [
        { path: "b/c.txt", size: 1, md5: "0d61f8370cad1d412f80b84d143e1257", mode: 0o644, mtimeNs: "1700000000123456789", rev: 1, deleted: false },
        { path: "a.txt", size: 0, md5: "", mode: 0o644, mtimeNs: "0", rev: 2, deleted: true },
      ],
      roots: [{ path: "", kind: "dir" }],
    });
    const since1 = await (await h.call("GET", "/v1/changes?since=1")).json();
    expect(since1).toEqual({ revision: 2, files: [all.files[1]], roots: [{ path: "", kind: "dir" }] });
  });

  test("is answered only once a committed revision's files are in the store: it waits while the commit worker places them", async () => {
    await using h = await makeHarness();
    enterJournal(h.commits.gate); // this thread plays the worker between its transaction and its files
    let answered = false;
    const poll = h.call("GET", "/v1/changes?since=0").then(async (res) => {
      answered = true;
      return (await res.json()) as Changes;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    const health = await h.call("GET", "/v1/health"); // never held back
    expect(health.status).toBe(200);
    storePlaced(h.commits.gate);
    expect(await poll).toEqual({ revision: 0, files: [], roots: [] });
    leaveJournal(h.commits.gate);
  });

  test("a missing, negative, fractional or non-numeric `since` is a 400", async () => {
    await using h = await makeHarness();
    const cases: [string, string][] = [
      ["", "invalid query.since: Expected required property"],
      ["?since=abc", "invalid query.since: wrong type or format"],
      ["?since=-1", "invalid request: Expected number to be greater or equal to 0"],
      ["?since=1.5", "since must be a whole revision number"],
    ];
    for (const [query, message] of cases) {
      const res = await h.call("GET", `/v1/changes${query}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: { code: "bad_request", message } });
    }
  });

  test("pages in (revision, path) order; `next` says where the following page starts, `revision` what the pages so far complete", async () => {
    await using h = await makeHarness();
    expect((await h.commit(await h.stage({ a: "1", b: "1", c: "1" }))).status).toBe(200);
    expect((await h.commit(await h.stage({ d: "2" }))).status).toBe(200);
    const page = async (query: string) => (await (await h.call("GET", `/v1/changes?${query}`)).json()) as Changes;
    const names = (c: Changes) => c.files.map((f) => `${f.path}@${f.rev}`);
    const first = await page("since=0&limit=2");
    expect([names(first), first.revision, first.next]).toEqual([["a@1", "b@1"], 0, { rev: 1, path: "b" }]);
    // A row changed while a client pages moves to a later revision, so the client meets it again.
    expect((await h.commit({ ...(await h.stage({ a: "3" }, 1)) })).status).toBe(200);
    const second = await page("since=0&limit=2&afterRev=1&afterPath=b");
    expect([names(second), second.revision, second.next]).toEqual([["c@1", "d@2"], 1, { rev: 2, path: "d" }]);
    const third = await page("since=0&limit=2&afterRev=2&afterPath=d");
    expect([names(third), third.revision, third.next]).toEqual([["a@3"], 3, undefined]);
    expect((await h.call("GET", "/v1/changes?since=0&limit=0")).status).toBe(400);
    expect((await h.call("GET", "/v1/changes?since=0&limit=10001")).status).toBe(400);
  });
});
