// Push and pull against plain rsync on a 100k-file tree with 1% of files changed (issue: "the
// server, push and pull"). Run by scripts/bench.ts; also runnable alone: `bun scripts/bench-sync.ts`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { median, report, runCommand, startServerProcess, type BenchRow } from "./bench-lib.ts";

const ROOT = resolve(import.meta.dir, "..");
const SOC = ["bun", join(ROOT, "cli.ts")];
const DIRS = 100;
const PER_DIR = 1000;
const CHANGED = (DIRS * PER_DIR) / 100;

/** Measures push, pull and no-op push against rsync; `runs` rounds of 1% changes each. */
export async function benchSync(runs = 5, log: (m: string) => void = () => {}): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "soc-bench-sync-"));
  try {
    await using server = await startServerProcess(join(dir, "store"));
    const url = server.url;
    const a = join(dir, "a");
    const paths = _writeTree(join(a, "tree"));
    log(`built ${paths.length} files; first push and clone (untimed)`);
    runCommand([...SOC, "init", url, "--transport", "local"], a);
    runCommand([...SOC, "add", "-r", "tree"], a);
    runCommand([...SOC, "push"], a);
    runCommand([...SOC, "clone", url, join(dir, "b"), "--transport", "local"], dir);
    runCommand(["rsync", "-a", `${join(a, "tree")}/`, `${join(dir, "mirror")}/`], dir);
    // The pull's reference copies the same files into a copy of the tree as it was, replacing the
    // old versions as a pull does (on this machine's ext4, replacing a file costs ~10x creating one).
    runCommand(["rsync", "-a", `${join(dir, "store")}/`, `${join(dir, "picked")}/`], dir);

    const t = {
      push: [] as number[],
      rsyncAll: [] as number[],
      pull: [] as number[],
      rsyncList: [] as number[],
      noopPush: [] as number[],
      noopStatus: [] as number[],
    };
    for (let round = 1; round <= runs; round++) {
      // Settle first (untimed): the files the last round pushed are racily clean for 2 s after
      // their write (state.ts RACY_WINDOW_NS) and the next scan re-reads them once; a user's next
      // push comes minutes later, not seconds, and should not be charged with that.
      await Bun.sleep(2000);
      runCommand([...SOC, "status"], a);
      const changed = _change(a, paths, round);
      t.push.push(_time(() => runCommand([...SOC, "push"], a)));
      t.rsyncAll.push(_time(() => runCommand(["rsync", "-a", `${join(a, "tree")}/`, `${join(dir, "mirror")}/`], dir)));
      t.pull.push(_time(() => runCommand([...SOC, "pull"], join(dir, "b"))));
      const list = new TextEncoder().encode(`${changed.join("\0")}\0`);
      t.rsyncList.push(
        _time(() =>
          runCommand(["rsync", "-a", "--from0", "--files-from=-", `${join(dir, "store")}/`, `${join(dir, "picked")}/`], dir, { stdin: list }),
        ),
      );
      await Bun.sleep(2000);
      runCommand([...SOC, "status"], a); // settle, as above: both below then start from the same state
      t.noopPush.push(_time(() => runCommand([...SOC, "push"], a)));
      t.noopStatus.push(_time(() => runCommand([...SOC, "status"], a)));
      log(`round ${round}: push ${t.push.at(-1)?.toFixed(0)} ms, pull ${t.pull.at(-1)?.toFixed(0)} ms`);
    }
    const row = (what: string, soc: number[], ref: number[], value: number): BenchRow => {
      const [s, r] = [median(soc), median(ref)];
      return { what, soc: s, ref: r, unit: "ms", ratio: s / r, goal: { op: "<=", value } };
    };
    return [
      row(`soc push, 1% of ${paths.length} changed vs rsync -a of the tree`, t.push, t.rsyncAll, 0.8),
      row(`soc pull of those ${CHANGED} vs rsync --files-from into an older copy`, t.pull, t.rsyncList, 1.2),
      row("soc push with nothing changed vs soc status", t.noopPush, t.noopStatus, 1.2),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

function _writeTree(tree: string): string[] {
  const paths: string[] = [];
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < PER_DIR; f++) {
      const rel = `d${d}/f${f}.txt`;
      writeFileSync(join(tree, rel), `file ${rel}\n${"x".repeat(200)}\n`);
      paths.push(rel);
    }
  }
  return paths;
}

/** Rewrites 1% of the files, spread over the tree; returns their paths relative to the store. */
function _change(a: string, paths: readonly string[], round: number): string[] {
  const changed: string[] = [];
  for (let i = round; i < paths.length; i += 100) {
    const rel = paths[i] as string;
    writeFileSync(join(a, "tree", rel), `round ${round} ${rel}\n`);
    changed.push(`tree/${rel}`);
  }
  return changed;
}

function _time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

if (import.meta.main) console.log(report(await benchSync(Number(process.argv[2] ?? 5), (m) => console.error(m))));
