import { describe, expect, test } from "bun:test";
import type { Changes } from "../../lib/shared/protocol.ts";
import { createAnnouncer } from "../../lib/server/announcer.ts";
import { enterJournal, leaveJournal, storePlaced } from "../../lib/server/journal-gate.ts";
import { currentRevision, databaseId } from "../../lib/server/table.ts";
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

describe("GET /v1/changes?wait=S (a long poll)", () => {
  test("with a revision after `since` already there, answers at once, with the database id", async () => {
    await using h = await makeHarness();
    await h.commit(await h.stage({ a: "1" }));
    const res = (await (await h.call("GET", "/v1/changes?since=0&wait=25")).json()) as Changes;
    expect([res.revision, res.files.map((f) => f.path), res.database]).toEqual([1, ["a"], databaseId(h.table)]);
  });

  test("with nothing after `since`, answers once a commit lands, carrying it", async () => {
    await using announcer = createAnnouncer(() => currentRevision(h.table));
    await using h = await makeHarness(undefined, { announcer });
    const poll = h.call("GET", "/v1/changes?since=0&wait=25").then(async (r) => (await r.json()) as Changes);
    while (announcer.waiting === 0) await Bun.sleep(5);
    await h.commit(await h.stage({ a: "1" }));
    const res = await poll;
    expect([res.revision, res.files.map((f) => f.path)]).toEqual([1, ["a"]]);
    expect(announcer.waiting).toBe(0);
  });

  test("a restore wakes it too", async () => {
    await using announcer = createAnnouncer(() => currentRevision(h.table));
    await using h = await makeHarness(undefined, { announcer });
    await h.commit(await h.stage({ a: "1" }));
    await h.commit(await h.stage({ a: "2" }, 1));
    const poll = h.call("GET", "/v1/changes?since=2&wait=25").then(async (r) => (await r.json()) as Changes);
    while (announcer.waiting === 0) await Bun.sleep(5);
    expect((await h.call("POST", "/v1/restore", { client: "test", paths: [{ path: "a", rev: 1 }] })).status).toBe(200);
    expect((await poll).files.map((f) => [f.path, f.rev])).toEqual([["a", 3]]);
  });

  test("with nothing after `since` for S seconds, answers with the unchanged head and the database id", async () => {
    await using h = await makeHarness();
    await h.commit(await h.stage({ a: "1" }));
    const res = (await (await h.call("GET", "/v1/changes?since=1&wait=1")).json()) as Changes;
    expect(res).toEqual({ revision: 1, files: [], roots: [], database: databaseId(h.table), head: 1 });
  });

  test("a client that goes away stops waiting; disposing the announcer answers every held poll (shutdown)", async () => {
    await using announcer = createAnnouncer(() => 0);
    await using h = await makeHarness(undefined, { announcer });
    const gone = new AbortController();
    const left = h.app.handle(new Request("http://localhost/v1/changes?since=0&wait=25", { signal: gone.signal })).catch(() => undefined);
    const held = h.call("GET", "/v1/changes?since=0&wait=25");
    while (announcer.waiting < 2) await Bun.sleep(5);
    gone.abort();
    while (announcer.waiting > 1) await Bun.sleep(5);
    await left;
    announcer[Symbol.dispose]();
    const res = await held;
    expect([res.status, ((await res.json()) as Changes).revision]).toEqual([200, 0]);
  });

  test("a wait over 25 seconds, fractional or negative is a 400 naming it", async () => {
    await using h = await makeHarness();
    for (const [wait, message] of [
      ["26", "wait must be at most 25 seconds"],
      ["1.5", "wait must be a whole number of seconds"],
      ["-1", "invalid request: Expected number to be greater or equal to 0"],
    ]) {
      const res = await h.call("GET", `/v1/changes?since=0&wait=${wait}`);
      expect([res.status, await res.json()]).toEqual([400, { error: { code: "bad_request", message } }]);
    }
  });
});
