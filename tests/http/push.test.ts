import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { holdJournal } from "../../lib/server/journal-gate.ts";
import { changesSince } from "../../lib/server/table.ts";
import { makeHarness } from "../_harness/app.ts";

describe("POST /v1/push/begin", () => {
  test("returns a fresh stage and its absolute path", async () => {
    await using h = await makeHarness();
    const res = await h.call("POST", "/v1/push/begin", { client: "laptop" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { stage: string; stagePath: string };
    expect(body.stage).toMatch(/^[0-9a-f]{32}$/);
    expect(body.stagePath).toBe(join(h.store.stateDir, "stage", body.stage));
    expect(readdirSync(body.stagePath)).toEqual([]);
  });
});

describe("POST /v1/push/commit", () => {
  test("moves staged files into the store, records them, and removes the stage", async () => {
    await using h = await makeHarness();
    const { stage, upserts } = await h.stage({ "docs/a.txt": "hello", "b.bin": "bytes" });
    const res = await h.commit({ stage, upserts: upserts.map((u) => (u.path === "b.bin" ? { ...u, mode: 0o755 } : u)) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ revision: 1, stored: ["docs/a.txt", "b.bin"], deleted: [] });
    expect(readFileSync(join(h.store.root, "docs/a.txt"), "utf8")).toBe("hello");
    expect(statSync(join(h.store.root, "b.bin")).mode & 0o777).toBe(0o755);
    await h.commits.finished(); // the answer comes once the files are in place; the stage goes after
    expect(existsSync(join(h.store.stateDir, "stage", stage))).toBe(false);
  });

  test("a change built on an old base is a 409 listing every conflicting path; nothing changes", async () => {
    await using h = await makeHarness();
    const first = await h.stage({ a: "1", b: "1", c: "1" });
    await h.commit(first);
    const second = await h.stage({ a: "2", b: "2" }, 1);
    await h.commit(second);
    const before = changesSince(h.table, 0);

    const stale = await h.stage({ a: "3", b: "3", c: "3" }, 1);
    const res = await h.commit(stale);
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      error: { code: "conflict", message: 'changed on the server since your base: "a", "b"; pull first', paths: ["a", "b"] },
    });
    expect(changesSince(h.table, 0)).toEqual(before);
    expect(readFileSync(join(h.store.root, "c"), "utf8")).toBe("1");
    expect(existsSync(join(h.store.stateDir, "stage", stale.stage))).toBe(false);
  });

  test("a refused commit removes its stage at once: a stage mismatch, a mass deletion, a bad path", async () => {
    await using h = await makeHarness();
    const files = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`f${i}`, "x"]));
    await h.commit(await h.stage(files));
    const wrong = await h.stage({ a: "staged" });
    const mismatch = await h.commit({ stage: wrong.stage, upserts: wrong.upserts.map((u) => ({ ...u, size: 99 })) });
    const wipe = await h.stage({});
    const mass = await h.commit({ stage: wipe.stage, deletes: Object.keys(files).map((path) => ({ path, baseRev: 1 })) });
    const hostile = await h.stage({ b: "x" });
    const bad = await h.commit({ stage: hostile.stage, deletes: [{ path: "../x", baseRev: 0 }] });
    expect([mismatch.status, mass.status, bad.status]).toEqual([400, 409, 400]);
    expect(readdirSync(join(h.store.stateDir, "stage"))).toEqual([]);
  });

  test("of two concurrent commits on the same base, one wins and the other conflicts", async () => {
    await using h = await makeHarness();
    await h.commit(await h.stage({ shared: "v1" }));
    const one = await h.stage({ shared: "from one" }, 1);
    const two = await h.stage({ shared: "from two" }, 1);
    const results = await Promise.all([h.commit(one), h.commit(two)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = results[0]?.status === 200 ? "from one" : "from two";
    expect(readFileSync(join(h.store.root, "shared"), "utf8")).toBe(winner);
  });

  test("a commit that changes nothing keeps the revision", async () => {
    await using h = await makeHarness();
    const first = await h.stage({ a: "same" });
    await h.commit(first);
    const again = await h.stage({ a: "same" }, 1);
    const res = await h.commit(again);
    expect(await res.json()).toEqual({ revision: 1, stored: [], deleted: [] });
    await h.commits.finished();
    expect(existsSync(join(h.store.stateDir, "stage", again.stage))).toBe(false);
  });

  test("staged files must match the changeset: 400 stage_mismatch naming the path", async () => {
    await using h = await makeHarness();
    const { stage, upserts } = await h.stage({ a: "abc" });
    const res = await h.commit({ stage, upserts: [...upserts, { ...upserts[0]!, path: "not-staged" }] });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: "stage_mismatch", message: 'staged files do not match the changeset: "not-staged" is missing', paths: ["not-staged"] },
    });
    expect(changesSince(h.table, 0).revision).toBe(0);
    expect(readdirSync(h.store.root)).toEqual([]);
  });

  test("an unknown or already committed stage is a 400", async () => {
    await using h = await makeHarness();
    const first = await h.stage({ a: "x" });
    expect((await h.commit(first)).status).toBe(200);
    const res = await h.commit(first);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: "no_stage", message: `unknown stage "${first.stage}" (expired or already committed); start the push again` },
    });
  });

  test("an interrupted push (staged, never committed) leaves table and store as they were", async () => {
    await using h = await makeHarness();
    await h.commit(await h.stage({ a: "kept" }));
    const before = changesSince(h.table, 0);
    await h.stage({ a: "half-sent", b: "new" }, 1);
    expect(changesSince(h.table, 0)).toEqual(before);
    expect(readdirSync(h.store.root)).toEqual(["a"]);
    expect(readFileSync(join(h.store.root, "a"), "utf8")).toBe("kept");
  });
});

describe("a changeset in parts: POST /v1/push/part, then the commit", () => {
  const part = (stage: string, n: number, entries: { upserts?: unknown[]; deletes?: unknown[] }) => ({
    stage,
    part: n,
    upserts: [],
    deletes: [],
    ...entries,
  });

  test("the parts and the commit's own entries commit as one revision", async () => {
    await using h = await makeHarness();
    const { stage, upserts } = await h.stage({ a: "1", b: "2", c: "3" });
    expect(await (await h.call("POST", "/v1/push/part", part(stage, 0, { upserts: upserts.slice(0, 1) }))).json()).toEqual({ part: 0 });
    expect((await h.call("POST", "/v1/push/part", part(stage, 1, { upserts: upserts.slice(1, 2) }))).status).toBe(200);
    const res = await h.commit({ stage, parts: 2, upserts: upserts.slice(2) });
    expect(await res.json()).toEqual({ revision: 1, stored: ["a", "b", "c"], deleted: [] });
    expect(readdirSync(h.store.root).sort()).toEqual(["a", "b", "c"]);
    await h.commits.finished();
    expect(existsSync(join(h.store.stateDir, "changesets", stage))).toBe(false);
  });

  test("a conflict anywhere refuses every part; a part that never came refuses the commit; either way stage and parts go", async () => {
    await using h = await makeHarness();
    await h.commit(await h.stage({ c: "1" }));
    await h.commit(await h.stage({ c: "2" }, 1));
    const before = changesSince(h.table, 0);
    const stale = await h.stage({ a: "1", c: "3" }, 1);
    await h.call("POST", "/v1/push/part", part(stale.stage, 0, { upserts: stale.upserts.filter((u) => u.path === "a") }));
    const refused = await h.commit({ stage: stale.stage, parts: 1, upserts: stale.upserts.filter((u) => u.path === "c") });
    expect([refused.status, ((await refused.json()) as { error: { paths: string[] } }).error.paths]).toEqual([409, ["c"]]);
    const gap = await h.stage({ a: "1" });
    await h.call("POST", "/v1/push/part", part(gap.stage, 1, { upserts: gap.upserts }));
    const incomplete = await h.commit({ stage: gap.stage, parts: 2 });
    expect([incomplete.status, await incomplete.json()]).toEqual([
      400,
      { error: { code: "stage_incomplete", message: "part 0 of this push's changeset never reached the server; start the push again" } },
    ]);
    expect(changesSince(h.table, 0)).toEqual(before);
    expect(readdirSync(join(h.store.stateDir, "stage"))).toEqual([]);
    expect(readdirSync(join(h.store.stateDir, "changesets"))).toEqual([]);
  });

  test("a part for an unknown stage is refused; one for a stage another server began is misdirected (421), naming both", async () => {
    await using h = await makeHarness();
    const node = h.store.id.slice(0, 8);
    const res = await h.call("POST", "/v1/push/part", part(`${node}${"0".repeat(24)}`, 0, {}));
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([400, "no_stage"]);
    const { stage } = (await (await h.call("POST", "/v1/push/begin", { client: "test" })).json()) as { stage: string };
    expect(stage.startsWith(node)).toBe(true);
    const other = node === "00000000" ? "11111111" : "00000000";
    const elsewhere = `${other}${"0".repeat(24)}`;
    const commit = await h.commit({ stage: elsewhere });
    expect([commit.status, await commit.json()]).toEqual([
      421,
      {
        error: {
          code: "wrong_node",
          message: `stage "${elsewhere}" was begun by another server (node ${other}; this is ${node}): every step of a push must reach the server that began it`,
        },
      },
    ]);
  });
});

describe("POST /v1/push/abort", () => {
  test("removes a push's stage and parts at once, and is harmless for an unknown stage", async () => {
    await using h = await makeHarness();
    const { stage, upserts } = await h.stage({ a: "1" });
    await h.call("POST", "/v1/push/part", { stage, part: 0, upserts, deletes: [] });
    expect(await (await h.call("POST", "/v1/push/abort", { stage })).json()).toEqual({ aborted: true });
    expect([readdirSync(join(h.store.stateDir, "stage")), readdirSync(join(h.store.stateDir, "changesets"))]).toEqual([[], []]);
    expect((await h.call("POST", "/v1/push/abort", { stage })).status).toBe(200);
  });
});

describe("a streamed commit (Accept: application/x-ndjson)", () => {
  const streamed = (h: Awaited<ReturnType<typeof makeHarness>>, body: object) =>
    h.call(
      "POST",
      "/v1/push/commit",
      { client: "test", upserts: [], deletes: [], roots: { set: [], remove: [] }, ...body },
      { accept: "application/x-ndjson" },
    );
  const lines = async (res: Response) =>
    (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  test("reports its progress, then its result", async () => {
    await using h = await makeHarness();
    const { stage, upserts } = await h.stage({ a: "1", b: "2" });
    const res = await streamed(h, { stage, upserts });
    expect([res.status, res.headers.get("content-type")]).toEqual([200, "application/x-ndjson"]);
    const got = await lines(res);
    expect(got.at(-1)).toEqual({ result: { revision: 1, stored: ["a", "b"], deleted: [] } });
    const steps = got.slice(0, -1).map((l) => (l.progress as { step: string }).step);
    expect(steps.filter((step, i) => step !== steps[i - 1])).toEqual(["verifying", "committing", "storing"]);
    expect(got.at(-2)).toEqual({ progress: { step: "storing", done: 2, total: 2 } });
  });

  test("a poll is answered while a commit waits in its worker for the journal; the commit lands once it is free", async () => {
    await using h = await makeHarness();
    expect(h.commits.mode).toBe("worker");
    const { stage, upserts } = await h.stage({ a: "1" });
    const held = await holdJournal(h.commits.gate);
    const reader = (await streamed(h, { stage, upserts })).body?.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    let text = "";
    const decoder = new TextDecoder();
    try {
      // "committing": the worker has checked and verified the push, and now waits for the journal.
      while (!text.includes('"committing"')) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the commit ended early: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
      const poll = await h.call("GET", "/v1/changes?since=0");
      expect(await poll.json()).toEqual({ revision: 0, files: [], roots: [] });
    } finally {
      held[Symbol.dispose]();
    }
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
    expect(JSON.parse(text.trim().split("\n").at(-1) as string)).toEqual({ result: { revision: 1, stored: ["a"], deleted: [] } });
    const poll = (await (await h.call("GET", "/v1/changes?since=0")).json()) as { revision: number; files: { path: string }[] };
    expect([poll.revision, poll.files.map((f) => f.path)]).toEqual([1, ["a"]]);
    expect(readFileSync(join(h.store.root, "a"), "utf8")).toBe("1");
  });

  test("a refusal comes as its error and status, as the plain answer would", async () => {
    await using h = await makeHarness();
    await h.commit(await h.stage({ a: "1" }));
    await h.commit(await h.stage({ a: "2" }, 1));
    const stale = await h.stage({ a: "3" }, 1);
    expect((await lines(await streamed(h, stale))).at(-1)).toEqual({
      error: { code: "conflict", message: 'changed on the server since your base: "a"; pull first', paths: ["a"] },
      status: 409,
    });
  });
});
