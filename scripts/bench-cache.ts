/**
 * `make bench-cache`: a clone through a node with a cache (--cache) against one through a node
 * keeping the whole tree, on one throwaway PostgreSQL and one throwaway Ceph RGW: warm (every blob
 * already in the cache: the view is links) and cold (a cache smaller than the tree, so every blob is
 * fetched from the bucket again), with `rsync -a` of the files printed for scale. BENCH_CACHE_FILES (default
 * 1000) files of 64 KiB; medians of BENCH_CACHE_RUNS (default 3), over the tunnel. Prints one row
 * per goal with PASS or MISS; a miss is reported, not an error (as `make bench`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { startPostgres } from "../tests/_harness/postgres.ts";
import { startRgw } from "../tests/_harness/ceph-rgw.ts";
import { median, report, runCommand, startServerProcess, type BenchRow } from "./bench-lib.ts";

const ROOT = resolve(import.meta.dir, "..");
const SOC = ["bun", join(ROOT, "cli.ts")];
const FILES = Number(process.env.BENCH_CACHE_FILES ?? 1000);
const RUNS = Number(process.env.BENCH_CACHE_RUNS ?? 3);
const SIZE = 64 * 1024;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "soc-bench-cache-"));
  try {
    await using pg = await startPostgres();
    await using rgw = await startRgw();
    const [database, bucket] = await Promise.all([pg.createDatabase("soc_bench_cache"), rgw.createBucket("soc-bench-cache")]);
    const env = { SOC_DATABASE: database, ...rgw.env };
    const content = ["--content", `s3://${bucket}`];
    await using tree = await startServerProcess(join(dir, "tree/store"), env, undefined, { args: content });
    const a = join(dir, "a");
    mkdirSync(join(a, "files"), { recursive: true });
    for (let i = 0; i < FILES; i++) writeFileSync(join(a, "files", `f${i}`), randomBytes(SIZE));
    runCommand([...SOC, "init", tree.url], a);
    runCommand([...SOC, "add", "-r", "files"], a);
    runCommand([...SOC, "push"], a);
    console.error(`cache: pushed ${FILES} files of ${SIZE / 1024} KiB through a node with a tree`);
    // Warm: a cache the tree fits in. Cold: one a tenth of the tree, whose least recently used blobs are always the next ones a clone needs.
    await using warm = await startServerProcess(join(dir, "warm/cache"), env, undefined, { args: content, cache: true });
    const tenth = String(Math.max(1, Math.floor((FILES * SIZE) / 10)));
    await using cold = await startServerProcess(join(dir, "cold/cache"), env, undefined, { args: [...content, "--cache-size", tenth], cache: true });
    const clone = (url: string) => () => {
      const to = join(dir, "clone");
      rmSync(to, { recursive: true, force: true });
      const t0 = performance.now();
      runCommand([...SOC, "clone", url, to], dir);
      return performance.now() - t0;
    };
    const copy = () => {
      const to = join(dir, "copy");
      rmSync(to, { recursive: true, force: true });
      const t0 = performance.now();
      runCommand(["rsync", "-a", `${join(a, "files")}/`, `${to}/`], dir);
      return performance.now() - t0;
    };
    const t = { tree: [] as number[], warm: [] as number[], cold: [] as number[], rsync: [] as number[] };
    clone(warm.url)(); // fills the warm cache (untimed)
    for (let round = 1; round <= RUNS; round++) {
      t.tree.push(clone(tree.url)());
      t.warm.push(clone(warm.url)());
      t.cold.push(clone(cold.url)());
      t.rsync.push(copy());
      console.error(
        `cache: round ${round}: clone through a tree ${t.tree.at(-1)?.toFixed(0)} ms, a warm cache ${t.warm.at(-1)?.toFixed(0)} ms, a cold one ${t.cold.at(-1)?.toFixed(0)} ms; rsync -a ${t.rsync.at(-1)?.toFixed(0)} ms`,
      );
    }
    const [treeMs, warmMs, coldMs, rsyncMs] = [median(t.tree), median(t.warm), median(t.cold), median(t.rsync)];
    const vsTree = (what: string, ms: number, most: number): BenchRow => ({
      what: `clone through a node with ${what} vs a tree node`,
      soc: ms,
      ref: treeMs,
      unit: "ms",
      ratio: ms / treeMs,
      goal: { op: "<=", value: most },
    });
    const rows = [vsTree("a warm cache", warmMs, 1.5), vsTree("a cold cache", coldMs, 3)];
    console.log(`\nmedians of ${RUNS} runs, ${FILES} files of ${SIZE / 1024} KiB, tunnel transport, a local RGW`);
    console.log(`for scale: a clone through a tree node takes ${treeMs.toFixed(0)} ms, rsync -a of the files ${rsyncMs.toFixed(0)} ms`);
    console.log(report(rows));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
