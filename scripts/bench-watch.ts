// Live sync: how long an edit on A takes to reach B when both run `soc watch` (issue: "live sync").
// Run by scripts/bench.ts; also runnable alone: `bun scripts/bench-watch.ts [edits]`.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { percentile, report, runCommand, startServerProcess, type BenchRow } from "./bench-lib.ts";

const ROOT = resolve(import.meta.dir, "..");
const SOC = ["bun", join(ROOT, "cli.ts")];
/** Files in the watched tree besides the one edited: a tree of some size, so each push scans something. */
const FILES = 2_000;

/** Edits one file on A `edits` times, each once B has the last; the p95 of the delays until B has each. */
export async function benchWatch(edits = 20, log: (m: string) => void = () => {}): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "soc-bench-watch-"));
  const watchers: Bun.Subprocess[] = [];
  try {
    await using server = await startServerProcess(join(dir, "store"));
    const a = join(dir, "a");
    for (let i = 0; i < FILES; i++) {
      mkdirSync(join(a, "d", `s${i % 20}`), { recursive: true });
      writeFileSync(join(a, "d", `s${i % 20}`, `f${i}.txt`), `file ${i}\n`);
    }
    writeFileSync(join(a, "d/edited.txt"), "edit 0\n");
    runCommand([...SOC, "init", server.url], a);
    runCommand([...SOC, "add", "-r", "d"], a);
    runCommand([...SOC, "push"], a);
    const b = join(dir, "b");
    runCommand([...SOC, "clone", server.url, b], dir);
    for (const top of [a, b]) watchers.push(Bun.spawn([...SOC, "watch", "--quiet"], { cwd: top, stdout: "ignore", stderr: "inherit" }));
    await Bun.sleep(3_000); // both have done their first pull and scan
    const delays: number[] = [];
    for (let n = 1; n <= edits; n++) {
      const text = `edit ${n}\n`;
      const t0 = performance.now();
      writeFileSync(join(a, "d/edited.txt"), text);
      const target = join(b, "d/edited.txt");
      while (!(existsSync(target) && readFileSync(target, "utf8") === text)) {
        if (performance.now() - t0 > 120_000) throw new Error(`edit ${n} did not reach B within 120 s`);
        await Bun.sleep(10);
      }
      delays.push(performance.now() - t0);
      log(`edit ${n}: ${delays.at(-1)?.toFixed(0)} ms`);
    }
    const p95 = percentile(delays, 95);
    return [
      {
        what: `soc watch: an edit on A reaches B (p95 of ${edits}, ${FILES} files)`,
        soc: p95 / 1000,
        unit: "s",
        ratio: p95 / 1000,
        goal: { op: "<=", value: 5 },
      },
    ];
  } finally {
    for (const w of watchers) w.kill("SIGTERM");
    await Promise.all(watchers.map((w) => w.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) console.log(report(await benchWatch(Number(process.argv[2] ?? 20), (m) => console.error(m))));
