import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ConflictError } from "../../../lib/shared/errors.ts";
import type { Changes } from "../../../lib/shared/protocol.ts";
import { readLog } from "../../../lib/server/history.ts";
import { changesSince, openTable, readRow } from "../../../lib/server/table.ts";
import { md5Bytes } from "../../../lib/shared/hash.ts";
import type { Changeset } from "../../../lib/server/changeset-plan.ts";
import {
  openPgTable,
  pgChangesSince,
  pgCommitRows,
  pgCurrentRevision,
  pgDatabaseId,
  pgReadLog,
  pgReadRow,
  REVISION_CHANNEL,
} from "../../../lib/server/pg-table.ts";
import { changeset, commit, commitOutcome } from "../../_harness/changesets.ts";
import { startPostgres, type TestPostgres } from "../../_harness/postgres.ts";
import { MD5_A, MD5_B, up } from "../../_harness/upserts.ts";

// A real PostgreSQL (a throwaway cluster, tests/_harness/postgres.ts), never a stand-in.
let pg: TestPostgres;
let databases = 0;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.[Symbol.asyncDispose]();
});
/** A new, empty database of its own for one test. */
const freshDatabase = () => pg.createDatabase(`soc_test_${++databases}`);

describe("the table in PostgreSQL", () => {
  test("commits as the SQLite table does: the same changesets give the same outcomes, pages of changes, rows and logs", async () => {
    await using t = await openPgTable(await freshDatabase());
    using lite = openTable(":memory:");
    const steps: Partial<Changeset>[] = [
      { upserts: [up("a/x"), up("a/y"), up("b"), up("link", MD5_B, 0, { link: "target" })], roots: { set: [{ path: "", kind: "dir" }], remove: [] } },
      { upserts: [up("a/x", MD5_B, 1)], deletes: [{ path: "b", baseRev: 1 }] },
      { upserts: [up("a/x", MD5_A, 1)] }, // built on an old base: a conflict
      { upserts: [up("a/x", MD5_B, 1)] }, // the very same change again: no conflict, no revision
      { upserts: [up("a", MD5_A, 0)] }, // a file where live files are: a clash
      { upserts: [up("b/inside", MD5_A, 0)], deletes: [] }, // under a tombstone: fine
      {
        deletes: [
          { path: "a/x", baseRev: 2 },
          { path: "a/y", baseRev: 1 },
          { path: "b/inside", baseRev: 3 },
          { path: "link", baseRev: 1 },
        ],
      }, // all of them
      { upserts: [up("c", MD5_A, 99)] }, // a base ahead of the server
      { upserts: [up("b", MD5_A, 0)], deletes: [{ path: "b/inside", baseRev: 3 }] }, // a file where a deleted directory was
    ];
    const expected = [
      { revision: 1, stored: ["a/x", "a/y", "b", "link"], deleted: [] },
      { revision: 2, stored: ["a/x"], deleted: ["b"] },
      { conflict: ["a/x"] },
      { revision: 2, stored: [], deleted: [] },
      { conflict: ["a"] },
      { revision: 3, stored: ["b/inside"], deleted: [] },
      { error: "mass_delete" },
      { error: "bad_base" },
      { revision: 4, stored: ["b"], deleted: ["b/inside"] },
    ];
    for (const [i, step] of steps.entries()) {
      const pgOutcome = await commitOutcome(() => pgCommitRows(t, changeset(step), { nowMs: 1000 + i }));
      const liteOutcome = await commitOutcome(() => commit(lite, step, { nowMs: 1000 + i }));
      expect({ step: i, pg: pgOutcome, sqlite: liteOutcome }).toEqual({ step: i, pg: expected[i], sqlite: expected[i] });
    }
    expect(await pgCurrentRevision(t)).toBe(4);
    for (const since of [0, 1, 2, 3, 4])
      for (const limit of [1, 2, 1000]) {
        const pages = async (read: (afterRev?: number, afterPath?: string) => Promise<Changes> | Changes) => {
          const out: Changes[] = [];
          for (let page = await read(); ; page = await read(page.next.rev, page.next.path)) {
            out.push(page);
            if (!page.next) return out;
          }
        };
        const fromPg = await pages((afterRev, afterPath) => pgChangesSince(t, since, { afterRev, afterPath, limit }));
        const fromLite = await pages((afterRev, afterPath) => changesSince(lite, since, { afterRev, afterPath, limit }));
        expect({ since, limit, pages: fromPg }).toEqual({ since, limit, pages: fromLite });
      }
    for (const path of ["a/x", "b", "b/inside", "link", "never"]) {
      expect(await pgReadRow(t, path)).toEqual(readRow(lite, path));
      for (const limit of [1, 100]) expect(await pgReadLog(t, { path, limit })).toEqual(readLog(lite, { path, limit }));
    }
    for (const limit of [2, 100]) expect(await pgReadLog(t, { limit })).toEqual(readLog(lite, { limit }));
    expect((await pgReadLog(t, { path: "a/x" })).history?.map((c) => [c.rev, c.action, c.available])).toEqual([
      [2, "modified", true],
      [1, "added", true],
    ]);
    expect(await pgDatabaseId(t)).toMatch(/^[0-9a-f]{32}$/);
  });

  test("two servers racing 300 × 2 commits on the same paths: exactly one wins each, the other gets a conflict, revisions have no gaps", async () => {
    const url = await freshDatabase();
    // Two servers: each its own pool of connections; the first to open makes the schema, the other waits for it.
    const [one, two] = await Promise.all([openPgTable(url), openPgTable(url)]);
    await using _one = one;
    await using _two = two;
    const paths = Array.from({ length: 300 }, (_, i) => `p/${i % 30}`);
    const base = new Map<string, number>();
    let wins = 0;
    let conflicts = 0;
    for (const [round, path] of paths.entries()) {
      const baseRev = base.get(path) ?? 0;
      const edit = (side: number) => changeset({ client: `server ${side}`, upserts: [up(path, md5Bytes(`round ${round}, side ${side}`), baseRev)] });
      const race = await Promise.allSettled([one, two].map((t, side) => pgCommitRows(t, edit(side), { nowMs: 1 })));
      const won = race.filter((r) => r.status === "fulfilled");
      const lost = race.filter((r) => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r as PromiseRejectedResult).reason)).toEqual([expect.any(ConflictError)]);
      wins += won.length;
      conflicts += lost.length;
      base.set(path, (won[0] as PromiseFulfilledResult<{ revision: number }>).value.revision);
    }
    expect([wins, conflicts, await pgCurrentRevision(one)]).toEqual([300, 300, 300]);
    const { rows } = { rows: (await one.sql`SELECT rev FROM revisions ORDER BY rev`) as { rev: string }[] };
    expect(rows.map((r) => Number(r.rev))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  test('a poller walking "since N" while two servers commit sees every revision exactly once, announced as it commits', async () => {
    const url = await freshDatabase();
    await using one = await openPgTable(url);
    await using two = await openPgTable(url);
    const announced: number[] = [];
    await using _listening = await two.sql.listen(REVISION_CHANNEL, (payload) => announced.push(Number(payload)));
    let done = false;
    const writers = [one, two].map(async (t, side) => {
      for (let i = 0; i < 100; i++) await pgCommitRows(t, changeset({ upserts: [up(`s${side}/f${i}`)] }), { nowMs: 1 });
    });
    const seen: number[] = [];
    const poller = (async () => {
      let since = 0;
      for (;;) {
        const finished = done;
        const page = await pgChangesSince(one, since);
        for (const row of page.files) seen.push(row.rev);
        since = page.revision;
        if (finished) return;
      }
    })();
    await Promise.all(writers);
    done = true;
    await poller;
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (let waited = 0; announced.length < 200 && waited < 5000; waited += 20) await Bun.sleep(20);
    expect(announced.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });
});
