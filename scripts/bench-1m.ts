// `make bench-1m`: soc at 100k and at 1M small files (issue 11). At each size, on a fresh tree and
// server: add, the first push, a no-op status and a 1% push; the 1M times are held to at most 12×
// the 100k ones (linear, with a little slack), and status's peak RSS at 1M to under 1 GiB, printed
// beside git status's on the same tree. Slow (about half an hour here) and disk-hungry (a few GB).
// Sizes can be set for a quicker look: BENCH_1M_SIZES=20000,200000.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gitCommitTree, median, report, runCommand, startServerProcess, type BenchRow } from "./bench-lib.ts";

const CLI = resolve(import.meta.dir, "..", "cli.ts");
const SIZES = (process.env.BENCH_1M_SIZES ?? "100000,1000000").split(",").map(Number);
const PER_DIR = 1000;
const STATUS_RUNS = 3;

/** What one size measured, in ms (and MiB for the RSS figures). */
interface Figures {
  files: number;
  add: number;
  firstPush: number;
  status: number;
  push: number;
  statusRss: number;
  gitStatusRss: number;
}

await main();

async function main(): Promise<void> {
  const log = (m: string) => process.stderr.write(`bench-1m: ${m}\n`);
  const figures: Figures[] = [];
  for (const files of SIZES) figures.push(await _measure(files, log));
  const [small, large] = [figures[0] as Figures, figures.at(-1) as Figures];
  const scale = large.files / small.files;
  const row = (what: string, key: "add" | "firstPush" | "status" | "push"): BenchRow => ({
    what: `${what}, ${large.files} files vs ${small.files}`,
    soc: large[key],
    ref: small[key],
    unit: "ms",
    ratio: large[key] / small[key],
    goal: { op: "<=", value: scale * 1.2 },
  });
  const rows: BenchRow[] = [
    row("soc add", "add"),
    row("first push", "firstPush"),
    row("no-op status", "status"),
    row("push of 1%", "push"),
    {
      what: `status peak RSS, ${large.files} files (git status: ${large.gitStatusRss.toFixed(0)} MiB)`,
      soc: large.statusRss,
      unit: "MiB",
      ratio: large.statusRss,
      goal: { op: "<", value: 1024 },
    },
  ];
  process.stdout.write(
    `\n${navigator.hardwareConcurrency} cores, bun ${Bun.version}; the goal for time is linear growth (x${scale}) plus 20%\n${report(rows)}\n`,
  );
}

async function _measure(files: number, log: (m: string) => void): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), "soc-bench-1m-"));
  try {
    await using server = await startServerProcess(join(dir, "store"));
    const tree = join(dir, "tree");
    const paths = _writeTree(tree, files);
    log(`${files}: wrote the tree`);
    const soc = (...args: string[]) => runCommand([process.execPath, CLI, ...args], tree);
    soc("init", server.url, "--transport", "local", "-q");
    const dirs = [...new Set(paths.map((p) => p.slice(0, p.indexOf("/"))))];
    const add = _time(() => soc("add", "-q", "-r", ...dirs));
    const firstPush = _time(() => soc("push", "-q"));
    log(`${files}: add ${add.toFixed(0)} ms, first push ${firstPush.toFixed(0)} ms`);
    soc("status"); // the first scan after a push may write the base snapshot
    const status = median(Array.from({ length: STATUS_RUNS }, () => _time(() => soc("status"))));
    const statusRss = runCommand([process.execPath, CLI, "status"], tree, { timeRss: true }).maxRssKiB / 1024;
    const now = new Date();
    paths.forEach((rel, i) => {
      if (i % 100 === 0) writeFileSync(join(tree, rel), `${rel} changed\n`);
      else if (i % 200 === 50) utimesSync(join(tree, rel), now, now);
    });
    const push = _time(() => soc("push", "-q"));
    log(`${files}: no-op status ${status.toFixed(0)} ms (${statusRss.toFixed(0)} MiB), 1% push ${push.toFixed(0)} ms; git for its status RSS`);
    gitCommitTree(tree);
    const gitStatusRss = runCommand(["git", "status", "--porcelain"], tree, { timeRss: true }).maxRssKiB / 1024;
    return { files, add, firstPush, status, push, statusRss, gitStatusRss };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `files` small files, PER_DIR to a directory; their repository paths. */
function _writeTree(tree: string, files: number): string[] {
  const paths: string[] = [];
  for (let d = 0; d * PER_DIR < files; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < PER_DIR && d * PER_DIR + f < files; f++) {
      const rel = `d${d}/f${f}.txt`;
      writeFileSync(join(tree, rel), `file ${rel}\n`);
      paths.push(rel);
    }
  }
  return paths;
}

function _time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}
