import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { commitChangeset } from "../../../lib/server/table.ts";
import { createJournalGate, enterJournal, holdJournal, leaveJournal, storePlaced, storeWhole } from "../../../lib/server/journal-gate.ts";
import { createStage } from "../../../lib/server/stage.ts";
import { changeset } from "../../_harness/changesets.ts";
import { writeFile } from "../../_harness/fs.ts";
import { serverState, type ServerState } from "../../_harness/server-state.ts";
import { upsertOf } from "../../_harness/upserts.ts";

/** Commits `a.txt` as revision 1 with its file work left in the journal (what a failed run leaves). */
function leftInJournal(f: ServerState): void {
  const stage = createStage(f.store);
  writeFile(stage.path, "a.txt", "a");
  commitChangeset(f.table, changeset({ upserts: [upsertOf("a.txt", "a")] }), { nowMs: 0, source: { stage: stage.id } });
}

/** Whether `p` has settled once the tasks already queued have run (it cannot, while the gate holds it back). */
async function settledSoon(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describe("the journal gate", () => {
  test("a request waits while the worker places its files, and goes on once they are placed", async () => {
    using f = serverState("soc-gate-");
    const gate = createJournalGate();
    await enterJournal(gate); // this thread plays the worker: committed, placing
    const whole = storeWhole(gate, { table: f.port, store: f.store });
    expect(await settledSoon(whole)).toBe(false);
    storePlaced(gate);
    await whole;
    // Syncing, and then idle with nothing left: requests pass at once.
    await storeWhole(gate, { table: f.port, store: f.store });
    leaveJournal(gate);
    await storeWhole(gate, { table: f.port, store: f.store });
  });

  test("a read goes on while the worker commits; its answer waits only once the table holds the revision being placed", async () => {
    using f = serverState("soc-gate-");
    const gate = createJournalGate();
    commitChangeset(f.table, changeset({ upserts: [upsertOf("a.txt", "a")] }), { nowMs: 0 }); // revision 1, placed
    await enterJournal(gate, async () => 2); // the worker, about to commit revision 2
    await storeWhole(gate, { table: f.port, store: f.store }, "read");
    await storeWhole(gate, { table: f.port, store: f.store }, "answer"); // the table is still at 1: nothing unplaced to show
    const write = storeWhole(gate, { table: f.port, store: f.store }, "write");
    expect(await settledSoon(write)).toBe(false);
    commitChangeset(f.table, changeset({ upserts: [upsertOf("b.txt", "b")] }), { nowMs: 0 }); // revision 2 is committed
    const answer = storeWhole(gate, { table: f.port, store: f.store }, "answer");
    expect(await settledSoon(answer)).toBe(false);
    storePlaced(gate);
    await Promise.all([write, answer]);
    leaveJournal(gate);
  });

  test("a node's worker that goes on to place a revision another node committed after its own holds back answers that may show it, not the others", async () => {
    using f = serverState("soc-gate-");
    const gate = createJournalGate();
    const deps = { table: f.port, store: f.store };
    await enterJournal(gate, async () => 1); // the worker, about to commit revision 1
    commitChangeset(f.table, changeset({ upserts: [upsertOf("a.txt", "a")] }), { nowMs: 0 }); // its revision 1
    storePlaced(gate, 1); // placed; it goes on to revision 2, another node's
    await storeWhole(gate, deps, "answer"); // the table is at 1: every revision it shows is placed
    await storeWhole(gate, deps, "read");
    commitChangeset(f.table, changeset({ upserts: [upsertOf("b.txt", "b")] }), { nowMs: 0 }); // revision 2, not placed yet
    const [answer, write] = [storeWhole(gate, deps, "answer"), storeWhole(gate, deps, "write")];
    expect(await settledSoon(answer)).toBe(false);
    expect(await settledSoon(write)).toBe(false);
    await storeWhole(gate, deps, "read"); // a read goes on: its answer is what waits
    leaveJournal(gate);
    await Promise.all([answer, write]);
  });

  test("with no one holding it, a request finishes what a failed run left in the journal first", async () => {
    using f = serverState("soc-gate-");
    const gate = createJournalGate();
    leftInJournal(f);
    await storeWhole(gate, { table: f.port, store: f.store });
    expect(await f.port.journal.pending()).toBe(false);
    expect(readFileSync(join(f.store.root, "a.txt"), "utf8")).toBe("a");
  });

  test("a held journal holds back a request only when something is left in it, and another holder until it is let go", async () => {
    using f = serverState("soc-gate-");
    const gate = createJournalGate();
    const held = await holdJournal(gate);
    await storeWhole(gate, { table: f.port, store: f.store }); // nothing pending: served
    leftInJournal(f);
    const whole = storeWhole(gate, { table: f.port, store: f.store });
    const next = holdJournal(gate);
    expect(await settledSoon(whole)).toBe(false);
    expect(await settledSoon(next)).toBe(false);
    held[Symbol.dispose]();
    (await next)[Symbol.dispose]();
    await whole;
    expect(await f.port.journal.pending()).toBe(false);
  });
});
