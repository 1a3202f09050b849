import { describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { commitChangeset } from "../../../lib/server/table.ts";
import { FAIL_STEPS, type Failpoint, type FailStep } from "../../../lib/server/failpoint.ts";
import { finishJournal, replayJournalAtStart, requireJournalDone, runJournal } from "../../../lib/server/journal.ts";
import { restorePaths } from "../../../lib/server/restore.ts";
import { createStage } from "../../../lib/server/stage.ts";
import { versionsRoot } from "../../../lib/server/versions.ts";
import { changeset } from "../../_harness/changesets.ts";
import { treeWithDirs, writeFile } from "../../_harness/fs.ts";
import { serverState, type ServerState } from "../../_harness/server-state.ts";
import { upsertOf } from "../../_harness/upserts.ts";

const BEFORE = { "keep.txt": "keep", "mod.txt": "old", "del.txt": "doomed", x: "x is a file", "y/one": "y is a dir" };
// Modify, delete, add deep, a file becoming a directory and a directory becoming a file.
const CHANGE = {
  writes: { "mod.txt": "new", "x/in": "x is a dir now", y: "y is a file now", "n/e/w.txt": "new" },
  deletes: ["del.txt", "x", "y/one"],
};
const AFTER = { "keep.txt": "keep", "mod.txt": "new", "x/in": "x is a dir now", y: "y is a file now", "n/e/w.txt": "new" };
const KEPT = { "1/mod.txt": "old", "1/del.txt": "doomed", "1/x": "x is a file", "1/y/one": "y is a dir" };

/** Stages `files` and commits them with `deletes` (no file work yet: the journal holds it); returns the stage id. */
function stageAndCommit(f: ServerState, files: Record<string, string>, deletes: string[], baseRev: number): string {
  const stage = createStage(f.store);
  const upserts = Object.entries(files).map(([path, content]) => {
    writeFile(stage.path, path, content);
    return upsertOf(path, content, baseRev, { mode: 0o640 });
  });
  const change = changeset({ upserts, deletes: deletes.map((path) => ({ path, baseRev })), allowMassDelete: true });
  commitChangeset(f.table, change, { nowMs: 0, source: { stage: stage.id } });
  return stage.id;
}

/** A state at revision 1 (BEFORE, in the store) with revision 2 (CHANGE) committed and its file work still to do. */
async function committedChange(f: ServerState): Promise<string> {
  stageAndCommit(f, BEFORE, [], 0);
  await runJournal({ table: f.port, store: f.store });
  return stageAndCommit(f, CHANGE.writes, CHANGE.deletes, 1);
}

/** A failpoint that throws the `nth` time `step` is reached, counting every step it sees into `counts`. */
function throwAt(step: FailStep | undefined, nth: number, counts: Map<FailStep, number> = new Map()): Failpoint {
  return (s) => {
    counts.set(s, (counts.get(s) ?? 0) + 1);
    if (s === step && counts.get(s) === nth) throw new Error(`failed at ${s}@${nth}`);
  };
}

function storeFiles(f: ServerState): Record<string, string> {
  return Object.fromEntries(Object.entries(treeWithDirs(f.store.root)).filter(([, v]) => v !== "<dir>"));
}

// Every point the file work can stop at: each step, each time it is reached.
const counts = new Map<FailStep, number>();
{
  using f = serverState("soc-journal-");
  await committedChange(f);
  await runJournal({ table: f.port, store: f.store, failpoint: throwAt(undefined, 0, counts) });
}

describe("the redo journal", () => {
  const points = FAIL_STEPS.filter((s) => s !== "staged").flatMap((step) =>
    Array.from({ length: counts.get(step) ?? 0 }, (_, i) => [step, i + 1] as const),
  );

  test("each file step is reached: versions kept, deletes, writes, the sync", () => {
    expect(Object.fromEntries(counts)).toEqual({ committed: 1, kept: 4, deleted: 3, written: 4, synced: 1 });
  });

  test.each(points)("stopped at %s #%d, the next run finishes the revision exactly as its rows say", async (step, nth) => {
    using f = serverState("soc-journal-");
    const stage = await committedChange(f);
    await expect(runJournal({ table: f.port, store: f.store, failpoint: throwAt(step, nth) })).rejects.toThrow(`failed at ${step}@${nth}`);
    expect(await f.port.journal.pending()).toBe(true);
    expect(await f.port.journal.holdsStage(stage)).toBe(true);
    expect(await runJournal({ table: f.port, store: f.store })).toEqual({ finished: [2], displaced: [] });
    expect(storeFiles(f)).toEqual(AFTER);
    expect(statSync(join(f.store.root, "mod.txt")).mode & 0o777).toBe(0o640);
    expect(Object.fromEntries(Object.entries(treeWithDirs(versionsRoot(f.store))).filter(([, v]) => v !== "<dir>"))).toEqual(KEPT);
    expect(await f.port.journal.pending()).toBe(false);
    expect(await f.port.journal.holdsStage(stage)).toBe(false);
  });

  test("a run with nothing journaled does nothing", async () => {
    using f = serverState("soc-journal-");
    await committedChange(f);
    await runJournal({ table: f.port, store: f.store });
    expect(await runJournal({ table: f.port, store: f.store })).toEqual({ finished: [], displaced: [] });
    expect(storeFiles(f)).toEqual(AFTER);
  });

  test("a stray directory where a file goes is moved aside, and the revision completes", async () => {
    using f = serverState("soc-journal-");
    stageAndCommit(f, BEFORE, [], 0);
    await runJournal({ table: f.port, store: f.store });
    writeFile(f.store.root, "n/e/w.txt/stray", "not in the table");
    stageAndCommit(f, CHANGE.writes, CHANGE.deletes, 1);
    expect(await runJournal({ table: f.port, store: f.store })).toEqual({ finished: [2], displaced: [{ rev: 2, path: "n/e/w.txt" }] });
    expect(storeFiles(f)).toEqual(AFTER);
    expect(treeWithDirs(join(f.store.stateDir, "displaced", "2"))).toEqual({
      n: "<dir>",
      "n/e": "<dir>",
      "n/e/w.txt": "<dir>",
      "n/e/w.txt/stray": "not in the table",
    });
  });

  test("a restore goes through the journal too: stopped at any write, the next run finishes it", async () => {
    for (let nth = 1; nth <= 2; nth++) {
      using f = serverState("soc-journal-");
      await committedChange(f);
      await runJournal({ table: f.port, store: f.store });
      const deps = { table: f.port, store: f.store, failpoint: throwAt("written", nth), log: () => {} };
      const req = { client: "t", paths: [{ path: "mod.txt", rev: 1 }, { path: "del.txt" }] };
      expect(await restorePaths(deps, req, { nowMs: 0, keepVersions: true })).toEqual({
        revision: 3,
        restored: [
          { path: "mod.txt", fromRev: 1 },
          { path: "del.txt", fromRev: 1 },
        ],
      });
      expect(await f.port.journal.pending()).toBe(true);
      await runJournal({ table: f.port, store: f.store });
      expect(storeFiles(f)).toEqual({ ...AFTER, "mod.txt": "old", "del.txt": "doomed" });
      expect(existsSync(join(versionsRoot(f.store), "2", "mod.txt"))).toBe(true);
    }
  });

  test("while the file work keeps failing, every request is refused with 503 saying why; once it works, it is done first", async () => {
    using f = serverState("soc-journal-");
    await committedChange(f);
    const lines: string[] = [];
    let broken = true;
    const failpoint: Failpoint = (step) => {
      if (broken && step === "written") throw new Error("EACCES: permission denied");
    };
    const deps = { table: f.port, store: f.store, failpoint, log: (line: string) => lines.push(line) };
    await finishJournal(deps);
    expect(lines).toEqual([
      "revision 2 is committed but its files are not all in the store yet: EACCES: permission denied; trying again before the next request",
    ]);
    let refused: unknown;
    try {
      await requireJournalDone(deps);
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({
      code: "store_behind",
      status: 503,
      message: "the server cannot put revision 2 in its store (EACCES: permission denied); its admin must look at the server's log",
    });
    broken = false;
    await requireJournalDone(deps);
    expect(storeFiles(f)).toEqual(AFTER);
    expect(await f.port.journal.pending()).toBe(false);
  });

  test("at start, a journal that cannot be finished stops the server with the reason", async () => {
    using f = serverState("soc-journal-");
    await committedChange(f);
    const failpoint: Failpoint = () => {
      throw new Error("EIO: i/o error");
    };
    await expect(replayJournalAtStart({ table: f.port, store: f.store, failpoint })).rejects.toThrow(
      "cannot put revision 2 in the store: EIO: i/o error; fix that and start the server again",
    );
    const lines: string[] = [];
    await replayJournalAtStart({ table: f.port, store: f.store, log: (line) => lines.push(line) });
    expect(lines).toEqual(["finished the file work of revision 2, left unfinished by the last run"]);
  });
});
