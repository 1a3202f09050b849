import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Changeset } from "../../../lib/server/changeset-plan.ts";
import { importSqliteTable } from "../../../lib/server/pg-import.ts";
import { openPgPort } from "../../../lib/server/pg-port.ts";
import { openPgTable } from "../../../lib/server/pg-table.ts";
import { sqlitePort } from "../../../lib/server/sqlite-port.ts";
import type { JournalSource, TablePort } from "../../../lib/server/table-port.ts";
import { openTable } from "../../../lib/server/table.ts";
import type { SocError } from "../../../lib/shared/errors.ts";
import { changeset, commitOutcome } from "../../_harness/changesets.ts";
import { tempDir } from "../../_harness/fs.ts";
import { startPostgres, type TestPostgres } from "../../_harness/postgres.ts";
import { MD5_A, MD5_B, up } from "../../_harness/upserts.ts";

// The table port's contract: the SQLite port and the PostgreSQL port (a real cluster) are given
// the same commits and must give the same answer to every question the server asks.

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.[Symbol.asyncDispose]();
});

/** The blob step 0's a/x names, claimed by its push (stage s1) first. */
const BLOB = "e".repeat(64);

/** One commit: its changeset, and its options. */
type Step = [Partial<Changeset>, { keepVersions?: boolean; source?: JournalSource }?];

const STEPS: Step[] = [
  [
    {
      // "B" sorts before "a" by code point (SQLite, and PostgreSQL's COLLATE "C"), after it in the test cluster's default collation.
      upserts: [up("a/x", MD5_A, 0, { sha256: BLOB }), up("a/y"), up("a/z"), up("b"), up("B", MD5_B), up("link", MD5_B, 0, { link: "target" })],
      roots: { set: [{ path: "", kind: "dir" }], remove: [] },
    },
    { source: { stage: "s1" } },
  ],
  [{ upserts: [up("a/x", MD5_B, 1)], deletes: [{ path: "b", baseRev: 1 }] }, { source: { stage: "s2" } }],
  // Without a mode: a new path gets 0644, a live one keeps its own; nothing kept as a version.
  [{ upserts: [up("c", MD5_A, 0, { mode: undefined }), up("a/y", MD5_B, 1, { mode: undefined })] }, { keepVersions: false }],
  [{ roots: { set: [{ path: "a", kind: "exclude" }], remove: [""] } }],
  [{ upserts: [up("a/x", MD5_A, 1)] }], // a conflict
  // Mass deletion, allowed, and a restore-like commit naming kept versions as its source.
  [{ deletes: ["a/x", "a/y", "c", "link"].map((path) => ({ path, baseRev: 4 })), allowMassDelete: true }],
  [
    { upserts: [up("a/x", MD5_A, 5), up("b", MD5_A, 2)] },
    {
      source: {
        versions: [
          { path: "a/x", rev: 1 },
          { path: "b", rev: 1 },
        ],
      },
    },
  ],
];

const PATHS = ["a", "a/x", "a/y", "a/z", "b", "B", "b/under", "c", "link", "never"];

/** Every answer of `t` that a server reads, after the steps: the whole observable state. */
async function answers(t: TablePort) {
  const head = await t.head();
  const rows = await Promise.all(PATHS.map((p) => t.readRow(p)));
  const changeAt = await Promise.all(PATHS.flatMap((p) => Array.from({ length: head + 2 }, (_, asOf) => t.changeAt(p, asOf))));
  const newest = await Promise.all(PATHS.map((p) => t.newestVersion(p)));
  const logs = await Promise.all(PATHS.map((path) => t.readLog({ path })));
  const live = (await t.liveRows()).sort((x, y) => (x.path < y.path ? -1 : 1));
  const content = await Promise.all(
    [
      [MD5_A, 3],
      [MD5_B, 3],
      [MD5_B, 6],
    ].map(async ([md5, size]) => (await t.pathsWithContent(md5 as string, size as number, 10)).sort()),
  ); // in no order
  const clashes = await t.shapeClashes(["a", "a/x/deeper", "b/under", "z", "link/inside"]);
  const entries = await t.journal.entries();
  const work = await Promise.all(Array.from({ length: head }, (_, i) => t.journal.work(i + 1)));
  const journal = { entries, work, pending: await t.journal.pending(), first: await t.journal.firstUnplaced() };
  const stages = [await t.journal.holdsStage("s1"), await t.journal.holdsStage("s3")];
  return { head, rows, changeAt, newest, logs, live, content, clashes, journal, stages, log: await t.readLog(), changes: await t.changesSince(0) };
}

describe("the table port", () => {
  test("SQLite and PostgreSQL answer every question the same after the same commits, through the journal and the version sweep", async () => {
    await using postgres = await openPgPort(await pg.createDatabase("soc_port"));
    await using sqlite = sqlitePort(openTable(":memory:"), { owned: true });
    for (const t of [postgres, sqlite]) await t.blobs.claim([BLOB], "s1", 0);
    for (const [i, [over, opts]] of STEPS.entries()) {
      const run = (t: TablePort) => commitOutcome(() => t.commit(changeset(over), { nowMs: 1000 * (i + 1), ...opts }));
      const [fromPg, fromLite] = [await run(postgres), await run(sqlite)];
      expect({ step: i, outcome: fromPg }).toEqual({ step: i, outcome: fromLite });
    }
    expect(await sqlite.head()).toBe(6);
    const before = await answers(sqlite);
    expect(before.journal.entries.map((e) => e.rev)).toEqual([1, 2, 6]);
    expect(await answers(postgres)).toEqual(before);

    // The journal's entries cleared, and the versions replaced before 3 s swept, the same way.
    for (const t of [sqlite, postgres]) {
      await t.journal.clear(1);
      await t.journal.clear(6);
    }
    const expired = await sqlite.expireVersions(3000);
    expect(expired.length).toBeGreaterThan(0);
    expect((await postgres.expireVersions(3000)).sort((x, y) => (x.path < y.path ? -1 : 1))).toEqual(
      expired.sort((x, y) => (x.path < y.path ? -1 : 1)),
    );
    const after = await answers(sqlite);
    expect(after.journal).toMatchObject({ pending: true, first: 2 });
    expect(await answers(postgres)).toEqual(after);
    expect([sqlite.id, postgres.id].map((id) => /^[0-9a-f]{32}$/.test(id))).toEqual([true, true]);
  });

  test("the first content store to bind a table holds its files; another is refused by name, the same one passes again", async () => {
    await using postgres = await openPgPort(await pg.createDatabase("soc_bind"));
    await using sqlite = sqlitePort(openTable(":memory:"), { owned: true });
    for (const t of [sqlite, postgres]) {
      await t.bindContent("the directory store 1");
      await t.bindContent("the directory store 1");
      const refused = await t.bindContent("the directory store 2").catch((e: unknown) => e);
      expect(refused).toMatchObject({
        code: "content_elsewhere",
        message:
          "the files of this database's rows are in the directory store 1, and this server's store is the directory store 2: servers sharing a database " +
          "need one object store for their content, and a server moved to another machine needs its state directory (with its store-id) moved with its store",
      });
    }
  });

  test("blobs: one a push claimed, or a row points at, is never marked for deletion; one marked is not claimed; a commit names only blobs held", async () => {
    await using postgres = await openPgPort(await pg.createDatabase("soc_blobs"));
    await using sqlite = sqlitePort(openTable(":memory:"), { owned: true });
    const [held, claimed, old, free, stray] = ["a", "b", "c", "d", "e"].map((c) => c.repeat(64)) as [string, string, string, string, string];
    const answers = async (t: TablePort) => {
      const commit = (over: Partial<Changeset>, stage: string) => commitOutcome(() => t.commit(changeset(over), { nowMs: 1000, source: { stage } }));
      const unheld = await commit({ upserts: [up("x", MD5_A, 0, { sha256: held })] }, "push-0"); // no claim, no row
      const first = await t.blobs.claim([held, claimed, old], "push-1", 5000);
      const committed = await commit({ upserts: [up("x", MD5_A, 0, { sha256: held })] }, "push-1");
      await t.blobs.claim([old], "push-2", 1000); // a push long dead
      const marked = await t.blobs.markGarbage([held, claimed, old, free, stray], 2000, "gc-1", 6000);
      const busy = await t.blobs.claim([free, claimed], "push-3", 6000);
      const markedGone = await commit({ upserts: [up("y", MD5_A, 0, { sha256: free })] }, "push-3");
      const fresh = await t.blobs.takeOverMarks("gc-2", 6000, 7000); // gc-1's marks are not stale yet
      const stale = await t.blobs.takeOverMarks("gc-2", 6001, 7000);
      await t.blobs.unmark([free, stray]);
      await t.blobs.release("push-1");
      await t.blobs.release("push-3");
      const later = await t.blobs.markGarbage([held, claimed, old, free], 2000, "gc-3", 8000);
      return { unheld, first, committed, marked, busy, markedGone, fresh, stale, later };
    };
    const fromLite = await answers(sqlite);
    expect(fromLite).toEqual({
      unheld: { error: "content_gone" },
      first: [],
      committed: { revision: 1, stored: ["x"], deleted: [] },
      // A row holds "held", push-1 "claimed" and "old" (the dead push's claim expired): "free" and "stray" go.
      marked: [free, stray],
      busy: [free],
      markedGone: { error: "content_gone" },
      fresh: [],
      stale: [free, stray],
      // Released, nothing holds them any more but the row of "x".
      later: [claimed, old, free],
    });
    expect(await answers(postgres)).toEqual(fromLite);
  });

  test("a SQLite table imported into PostgreSQL answers every question as it did, with the same database id and content store", async () => {
    using dir = tempDir();
    const file = join(dir.path, "soc.db");
    await using sqlite = sqlitePort(openTable(file), { owned: true });
    await sqlite.bindContent("the directory store 1");
    await sqlite.blobs.claim([BLOB], "s1", 0);
    for (const [i, [over, opts]] of STEPS.entries()) await commitOutcome(() => sqlite.commit(changeset(over), { nowMs: 1000 * (i + 1), ...opts }));
    const url = await pg.createDatabase("soc_import");
    {
      await using t = await openPgTable(url);
      const unfinished = await importSqliteTable(t, file).catch((e: unknown) => e);
      expect(unfinished).toMatchObject({
        code: "import_refused",
        message: expect.stringContaining("has a revision whose files are not all in its store yet"),
      });
      for (const { rev } of await sqlite.journal.entries()) await sqlite.journal.clear(rev);
      expect(await importSqliteTable(t, file)).toEqual({ revision: 6, files: 7, versions: 6 });
      const again = await importSqliteTable(t, file).catch((e: unknown) => e);
      expect(again).toMatchObject({
        code: "import_refused",
        message: "the PostgreSQL table already holds revision 6: import only into a new, empty database",
      });
    }
    await using postgres = await openPgPort(url);
    expect(postgres.id).toBe(sqlite.id);
    expect(await answers(postgres)).toEqual(await answers(sqlite));
    await postgres.bindContent("the directory store 1");
    expect(await postgres.bindContent("the directory store 2").catch((e: unknown) => (e as SocError).code)).toBe("content_elsewhere");
    // It goes on from there: the next commit is revision 7.
    expect((await postgres.commit(changeset({ upserts: [up("new")] }), { nowMs: 9000 })).revision).toBe(7);
  });
});
