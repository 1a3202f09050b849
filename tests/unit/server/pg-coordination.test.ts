import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createAnnouncer } from "../../../lib/server/announcer.ts";
import { followPgHead, pgLeadership, type HeadFollower } from "../../../lib/server/pg-coordination.ts";
import { openPgTable, pgCommitRows } from "../../../lib/server/pg-table.ts";
import { changeset } from "../../_harness/changesets.ts";
import { startPostgres, type TestPostgres } from "../../_harness/postgres.ts";
import { pollUntil } from "../../_harness/proc.ts";
import { up } from "../../_harness/upserts.ts";

// Two servers on one real PostgreSQL (a throwaway cluster): each its own pool of connections.
let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.[Symbol.asyncDispose]();
});

describe("servers sharing one PostgreSQL", () => {
  test("a commit through one server wakes a long poll held on the other; one committed while the listener was cut off is announced once it is back", async () => {
    const url = await pg.createDatabase("soc_announce");
    await using a = await openPgTable(url);
    await using b = await openPgTable(url);
    let follower: HeadFollower | undefined;
    using announcer = createAnnouncer(() => follower?.head() ?? 0);
    follower = await followPgHead(b, () => announcer.announce());
    await using _following = follower;

    const held = announcer.waitPast(0, 30_000);
    await pgCommitRows(a, changeset({ upserts: [up("one")] }), { nowMs: 1 });
    expect(await held).toBe(1);

    // Cut the listening connection and keep it from coming back while revision 2 commits: its NOTIFY is lost.
    await using admin = new Bun.SQL(pg.url); // the database's own sessions cannot close it to connections
    const listeners = async () =>
      ((await a.sql`SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`) as { pid: number }[]).map((r) => r.pid);
    const [listener] = await listeners();
    expect(listener).toBeNumber();
    await admin`ALTER DATABASE soc_announce WITH ALLOW_CONNECTIONS false`;
    await a.sql`SELECT pg_terminate_backend(${listener as number})`;
    expect(await pollUntil(async () => !(await listeners()).includes(listener as number), 10_000)).toBe(true);
    await pgCommitRows(a, changeset({ upserts: [up("two")] }), { nowMs: 2 });
    const again = announcer.waitPast(1, 60_000);
    await admin`ALTER DATABASE soc_announce WITH ALLOW_CONNECTIONS true`;
    expect(await again).toBe(2);
    expect((await listeners()).length).toBe(1);
  });

  test("one leader at a time for the background jobs; a leader whose connection drops loses it, and the other server takes it", async () => {
    const url = await pg.createDatabase("soc_leader");
    await using a = await openPgTable(url);
    await using b = await openPgTable(url);
    await using leadA = pgLeadership(a, 7);
    await using leadB = pgLeadership(b, 7);
    expect([await leadA.lead(), await leadB.lead()]).toEqual([true, false]);
    expect([await leadA.lead(), await leadB.lead()]).toEqual([true, false]);

    const [holder] = (await b.sql`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 7 AND granted`) as { pid: number }[];
    await b.sql`SELECT pg_terminate_backend(${(holder as { pid: number }).pid})`;
    expect(await pollUntil(async () => await leadB.lead(), 10_000)).toBe(true);
    expect(await leadA.lead()).toBe(false);
  });
});
