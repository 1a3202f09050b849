/**
 * `make bench-pg`: commits per second through the table in PostgreSQL (lib/server/pg-table.ts)
 * from two server processes at once, each committing one small changeset after another for
 * BENCH_PG_SECONDS (default 10), on a throwaway cluster that syncs to disk like a real one; the
 * same commits through one SQLite table (durable, as the server opens it) are shown for scale.
 * Prints one row per goal with PASS or MISS; a miss is reported, not an error (as `make bench`).
 */
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { openPgTable, pgCommitRows, pgCurrentRevision } from "../lib/server/pg-table.ts";
import { commitChangeset, openTable } from "../lib/server/table.ts";
import { startPostgres } from "../tests/_harness/postgres.ts";
import { allPass, report, type BenchRow } from "./bench-lib.ts";

const SECONDS = Number(process.env.BENCH_PG_SECONDS ?? 10);
const SERVERS = 2;

/** One small changeset: a new 3-byte file at `path`. */
function change(client: string, path: string) {
  const upsert = { path, size: 3, md5: "a".repeat(32), mode: 0o644, mtimeNs: "1700000000000000000", baseRev: 0 };
  return { client, upserts: [upsert], deletes: [], roots: { set: [], remove: [] } };
}

/** A worker process: commits through its own table for `seconds`, then prints how many it made and in how many seconds (its own start-up not counted). */
async function worker(url: string, side: string, seconds: number): Promise<void> {
  await using t = await openPgTable(url);
  const started = performance.now();
  const until = started + seconds * 1000;
  let n = 0;
  for (; performance.now() < until; n++) await pgCommitRows(t, change(`server ${side}`, `s${side}/f${n}`), { nowMs: Date.now() });
  console.log(`${n} ${(performance.now() - started) / 1000}`);
}

async function main(): Promise<void> {
  await using pg = await startPostgres({ durable: true });
  await (await openPgTable(pg.url)).close(); // the schema, made once before the race
  const procs = Array.from({ length: SERVERS }, (_, side) =>
    Bun.spawn([process.execPath, import.meta.path, "--worker", pg.url, String(side), String(SECONDS)], { stdout: "pipe", stderr: "inherit" }),
  );
  const runs = await Promise.all(
    procs.map(async (p) => {
      const out = (await new Response(p.stdout).text()).trim();
      const m = /^(\d+) ([0-9.]+)$/.exec(out);
      if ((await p.exited) !== 0 || !m) throw new Error(`a bench-pg worker failed (exit ${p.exitCode})`);
      return { commits: Number(m[1]), seconds: Number(m[2]) };
    }),
  );
  // The servers commit at once: their rates add up (each over its own loop, without its start-up).
  const counts = runs.map((r) => r.commits);
  const pgRate = runs.reduce((sum, r) => sum + r.commits / r.seconds, 0);
  await using check = await openPgTable(pg.url);
  const revisions = await pgCurrentRevision(check);
  console.error(`postgres: ${counts.join(" + ")} commits from ${SERVERS} servers, head at ${revisions}`);

  const dir = mkdtempSync(join(tmpdir(), "soc-bench-sqlite-"));
  let liteRate: number;
  try {
    using table = openTable(join(dir, "soc.db"));
    const until = performance.now() + SECONDS * 1000;
    const t0 = performance.now();
    let n = 0;
    for (; performance.now() < until; n++) commitChangeset(table, change("one", `f${n}`), { nowMs: Date.now() });
    liteRate = n / ((performance.now() - t0) / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.error(`sqlite: ${liteRate.toFixed(0)} commits/s from one server (embedded; shown for scale, no goal)`);
  // The goal: issue 14's reference, a locked commit as one plpgsql call at about 294 commits/s on this kind of machine.
  const rows: BenchRow[] = [
    {
      what: `commits/s through PostgreSQL, ${SERVERS} servers at once, fsync on`,
      soc: pgRate,
      unit: "commits/s",
      ratio: pgRate,
      goal: { op: ">=", value: 200 },
    },
  ];
  console.log(`${SECONDS} s each, 2 cores, bun ${Bun.version}`);
  console.log(report(rows));
  if (revisions !== counts.reduce((a, b) => a + b, 0)) throw new Error(`the head is at ${revisions}, not at the commits made`);
  if (!allPass(rows)) console.log("some goals were missed (MISS above)");
}

if (process.argv[2] === "--worker") await worker(process.argv[3] as string, process.argv[4] as string, Number(process.argv[5]));
else await main();
