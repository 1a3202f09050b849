import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createCommitter } from "../../../lib/server/committer.ts";
import { createFailpoint } from "../../../lib/server/failpoint.ts";
import { holdJournal, storeWhole } from "../../../lib/server/journal-gate.ts";
import { createStage, stagePath } from "../../../lib/server/stage.ts";
import { changesSince } from "../../../lib/server/table.ts";
import { ConflictError } from "../../../lib/shared/errors.ts";
import type { PushCommitRequest, Upsert } from "../../../lib/shared/protocol.ts";
import { writeFile } from "../../_harness/fs.ts";
import { serverState, type ServerState } from "../../_harness/server-state.ts";
import { upsertOf } from "../../_harness/upserts.ts";

/** A stage holding `files` and the commit request for them, each built on `baseRev`. */
function staged(f: ServerState, files: Record<string, string>, baseRev = 0): PushCommitRequest {
  const stage = createStage(f.store);
  const upserts: Upsert[] = Object.entries(files).map(([path, content]) => {
    writeFile(stage.path, path, content);
    return upsertOf(path, content, baseRev);
  });
  return { stage: stage.id, client: "test", upserts, deletes: [], roots: { set: [], remove: [] } };
}

describe("createCommitter", () => {
  test("runs a commit in a worker thread: the rows, the files in the store, its progress step by step", async () => {
    using f = serverState("soc-committer-");
    await using commits = createCommitter({ table: f.port, store: f.store, now: () => 0, keepDays: 30 });
    expect(commits.mode).toBe("worker");
    const steps: string[] = [];
    const result = await commits.commit(staged(f, { "a.txt": "hello", "d/b.txt": "world" }), (p) => steps.push(p.step));
    expect(result).toEqual({ revision: 1, stored: ["a.txt", "d/b.txt"], deleted: [] });
    expect([...new Set(steps)]).toEqual(["verifying", "committing", "storing"]);
    expect(readFileSync(join(f.store.root, "d/b.txt"), "utf8")).toBe("world");
    await commits.finished(); // answered once the files are in place; the journal entry is cleared after
    expect(await f.port.journal.pending()).toBe(false);
    // This thread's own connection sees the worker's commit.
    expect(changesSince(f.table, 0).files.map((r) => [r.path, r.rev])).toEqual([
      ["a.txt", 1],
      ["d/b.txt", 1],
    ]);
  });

  test("a refusal crosses back as the same error: a conflict names its paths, a bad stage its code and status", async () => {
    using f = serverState("soc-committer-");
    await using commits = createCommitter({ table: f.port, store: f.store, now: () => 0, keepDays: 30 });
    await commits.commit(staged(f, { "a.txt": "one" }));
    await commits.commit(staged(f, { "a.txt": "two" }, 1));
    const conflict = await commits.commit(staged(f, { "a.txt": "three" }, 1)).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).paths).toEqual(["a.txt"]);
    const unknown = await commits.commit({ ...staged(f, {}), stage: `${f.store.id.slice(0, 8)}${"0".repeat(24)}` }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: "no_stage", status: 400 });
  });

  test("commits run one at a time, in the order they came: the second starts after the first has answered", async () => {
    using f = serverState("soc-committer-");
    await using commits = createCommitter({ table: f.port, store: f.store, now: () => 0, keepDays: 30 });
    const events: string[] = [];
    const run = (name: string, request: PushCommitRequest) =>
      commits.commit(request, (p) => events.push(`${name} ${p.step}`)).then((r) => events.push(`${name} revision ${r.revision}`));
    await Promise.all([run("A", staged(f, { "a.txt": "a" })), run("B", staged(f, { "b.txt": "b" }))]);
    const distinct = events.filter((e, i) => events.indexOf(e) === i);
    expect(distinct).toEqual([
      "A verifying",
      "A committing",
      "A storing",
      "A revision 1",
      "B verifying",
      "B committing",
      "B storing",
      "B revision 2",
    ]);
  });

  test("a stage given up while its commit runs goes only after that commit: every file of the commit lands", async () => {
    using f = serverState("soc-committer-");
    await using commits = createCommitter({ table: f.port, store: f.store, now: () => 0, keepDays: 30 });
    const request = staged(f, { "a.txt": "a", "d/b.txt": "b" });
    const held = await holdJournal(commits.gate);
    let committing!: () => void;
    const reachedGate = new Promise<void>((resolve) => (committing = resolve));
    const commit = commits.commit(request, (p) => p.step === "committing" && committing());
    let abandoned: Promise<void>;
    try {
      await reachedGate; // verified and synced; the worker now waits for the journal
      abandoned = commits.abandon(request.stage);
    } finally {
      held[Symbol.dispose]();
    }
    expect(await commit).toEqual({ revision: 1, stored: ["a.txt", "d/b.txt"], deleted: [] });
    await abandoned;
    expect([readFileSync(join(f.store.root, "a.txt"), "utf8"), readFileSync(join(f.store.root, "d/b.txt"), "utf8")]).toEqual(["a", "b"]);
    expect(existsSync(stagePath(f.store, request.stage))).toBe(false);
  });

  test("stays on this thread for an in-memory table or a failpoint that cannot cross threads", async () => {
    using f = serverState("soc-committer-");
    await using own = createCommitter({ table: f.port, store: f.store, now: () => 0, keepDays: 30, failpoint: () => {} });
    expect(own.mode).toBe("inline");
    expect((await own.commit(staged(f, { "a.txt": "a" }))).revision).toBe(1);
    const shared = createFailpoint({ step: "written", nth: 1, action: "throw" });
    await using crossing = createCommitter({ table: f.port, store: f.store, now: () => 0, keepDays: 30, failpoint: shared });
    expect(crossing.mode).toBe("worker");
  });

  test("a failpoint counts across threads: the worker's failed file work is finished by this thread, which does not fail again", async () => {
    using f = serverState("soc-committer-");
    const failpoint = createFailpoint({ step: "written", nth: 1, action: "throw" });
    const lines: string[] = [];
    await using commits = createCommitter({ table: f.port, store: f.store, now: () => 0, keepDays: 30, failpoint, log: (l) => lines.push(l) });
    // The commit stands (its client is told so); its files wait in the journal.
    expect((await commits.commit(staged(f, { "a.txt": "a" }))).revision).toBe(1);
    expect(lines).toEqual([
      "revision 1 is committed but its files are not all in the store yet: failpoint written@1; trying again before the next request",
    ]);
    expect(await f.port.journal.pending()).toBe(true);
    await storeWhole(commits.gate, { table: f.port, store: f.store, failpoint });
    expect(await f.port.journal.pending()).toBe(false);
    expect(readFileSync(join(f.store.root, "a.txt"), "utf8")).toBe("a");
  });
});
