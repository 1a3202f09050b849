import type { ReservedSQL } from "bun";
import { pgCurrentRevision, REVISION_CHANNEL, type PgTable } from "./pg-table.ts";

/** How often a follower reads the head even without a notification, in ms. */
const RECHECK_MS = 5_000;

/** The head revision as this server last saw it, kept current by the database's announcements. */
export interface HeadFollower extends AsyncDisposable {
  /** The newest head seen: for the announcer's synchronous `head()`. */
  head(): number;
}

/**
 * Follows the head of a table shared by several servers: every commit (through any server)
 * NOTIFYs its revision as it commits; `onMove` runs once the head passes what was seen (the
 * announcer's `announce`). Notifications sent while the listening connection is down are lost,
 * so the head is read again each time the subscription is made, the first time and after every
 * reconnect: a revision committed meanwhile is announced then. It is also read every
 * RECHECK_MS, in case a notification went missing some other way (the announcer's recheck only
 * reads what this follower has seen).
 */
export async function followPgHead(t: PgTable, onMove: (head: number) => void): Promise<HeadFollower> {
  let head = await pgCurrentRevision(t);
  const moved = (rev: number) => {
    if (!(rev > head)) return;
    head = rev;
    onMove(rev);
  };
  const catchUp = () => void pgCurrentRevision(t).then(moved, () => {}); // down again: the next reconnect reads it
  const subscription = await t.sql.listen(REVISION_CHANNEL, (payload) => moved(Number(payload)), catchUp);
  const recheck = setInterval(catchUp, RECHECK_MS).unref();
  return {
    head: () => head,
    [Symbol.asyncDispose]: async () => {
      clearInterval(recheck);
      await subscription.unlisten();
    },
  };
}

/** Whether this server leads the background jobs now (one at a time across servers). */
export interface Leadership extends AsyncDisposable {
  /** True while this server holds the lock; tries to take it when nobody does. */
  lead(): Promise<boolean>;
}

/**
 * One leader among the servers sharing a database, for the jobs only one may run (the version
 * sweep, the stage sweep, garbage collection): a session-level `pg_try_advisory_lock(key)` held on
 * a connection of its own. A leader whose connection drops loses the lock with it (PostgreSQL
 * frees it with the session), and learns so at its next `lead()`; whoever asks next takes it.
 */
export function pgLeadership(t: PgTable, key: number): Leadership {
  // A connection that may hold the lock is closed, never returned to the pool: its session ends, and the lock with it.
  let held: ReservedSQL | undefined;
  const drop = (conn: ReservedSQL) => {
    if (held === conn) held = undefined;
    void conn.close().catch(() => {});
  };
  return {
    async lead() {
      const conn = held;
      if (conn) {
        try {
          const [row] = (await conn`SELECT 1 AS alive`) as { alive: number }[];
          if (row?.alive === 1) return true;
        } catch {
          // the connection is gone, and the lock with it
        }
        drop(conn);
      }
      const fresh = await t.sql.reserve();
      try {
        const [row] = (await fresh`SELECT pg_try_advisory_lock(${key}) AS taken`) as { taken: boolean }[];
        if (row?.taken === true && held === undefined) {
          held = fresh;
          return true;
        }
      } catch {
        // no answer: not the leader this time
      }
      drop(fresh);
      return false;
    },
    async [Symbol.asyncDispose]() {
      if (held) drop(held);
    },
  };
}
