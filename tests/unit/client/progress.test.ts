import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createProgress, formatBytes, meterTransfer, parseProgress2, type Progress, type RsyncProgress } from "../../../lib/client/progress.ts";
import { rsyncArgs, runRsync } from "../../../lib/client/rsync.ts";
import { tempDir } from "../../_harness/fs.ts";

describe("parseProgress2", () => {
  test("reads rsync 3.5's whole-run lines, with and without the file counts", () => {
    expect(parseProgress2("     10,485,760  20%  830.73MB/s    0:00:00 (xfr#2, to-chk=8/10)")).toEqual({
      bytes: 10_485_760,
      percent: 20,
      rate: "830.73MB/s",
      transferred: 2,
      toCheck: 8,
      total: 10,
    });
    expect(parseProgress2("         32,768   0%    0.00kB/s    0:00:00  ")).toEqual({ bytes: 32_768, percent: 0, rate: "0.00kB/s" });
    expect(parseProgress2("  1,234,567,890 100%    1.02GB/s  123:04:05 (xfr#12345, ir-chk=1000/52345)")).toEqual({
      bytes: 1_234_567_890,
      percent: 100,
      rate: "1.02GB/s",
      transferred: 12345,
      toCheck: 1000,
      total: 52345,
    });
  });

  test("digit groups in any locale's style; an unknown time left", () => {
    expect(parseProgress2("  1.234.567  12%   10,50MB/s    ??:??:??")?.bytes).toBe(1_234_567);
    expect(parseProgress2("  1'234'567  12%   10.50MB/s    0:00:05")?.bytes).toBe(1_234_567);
    expect(parseProgress2("123 5% 1.00kB/s 0:00:01")?.bytes).toBe(123);
  });

  test("anything else is not progress", () => {
    for (const line of [
      "",
      "sending incremental file list",
      "sent 52,442,145 bytes  received 206 bytes  104,884,702.00 bytes/sec",
      "total size is 52,428,800  speedup is 1.00",
      "d/f1",
      'rsync: [sender] link_stat "x" failed: No such file or directory (2)',
    ]) {
      expect(parseProgress2(line)).toBeUndefined();
    }
  });

  test("real rsync output through runRsync: reports in order, ending at the whole size", async () => {
    using dir = tempDir();
    const src = join(dir.path, "src");
    mkdirSync(src);
    mkdirSync(join(dir.path, "dest"));
    const files = ["a", "b", "c"];
    for (const f of files) writeFileSync(join(src, f), Buffer.alloc(300_000, f));
    const reports: RsyncProgress[] = [];
    await runRsync({ src, dest: join(dir.path, "dest"), files, compare: "always" }, { onProgress: (p) => reports.push(p) });
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.at(-1)).toMatchObject({ bytes: 900_000, percent: 100, transferred: 3, toCheck: 0, total: 3 });
    expect(reports.map((r) => r.bytes)).toEqual(reports.map((r) => r.bytes).sort((x, y) => x - y));
  });

  test("--info=progress2 for the whole run, --progress file by file, neither unless progress is wanted", () => {
    const job = { src: "/a", dest: "/b", files: [], compare: "always" } as const;
    expect(rsyncArgs(job, { progress: "whole-run" })[0]).toBe("--info=progress2");
    expect(rsyncArgs(job, { progress: "per-file" })[0]).toBe("--progress");
    expect(rsyncArgs(job).filter((a) => a.startsWith("--info") || a === "--progress")).toEqual([]);
  });
});

/** A Progress writing into a string, on a clock the test moves. */
function recorder(color = false) {
  let out = "";
  let t = 0;
  const progress = createProgress({ write: (s: string) => (out += s) }, { color, columns: () => 100, now: () => t });
  return { progress, out: () => out, tick: (ms: number) => (t += ms) };
}

describe("createProgress", () => {
  test("draws one line in place with \\r, and replaces it with the summary", () => {
    const r = recorder();
    r.progress.update("sending", 0, 2048, "bytes");
    r.tick(500);
    r.progress.update("sending", 1024, 2048, "bytes");
    r.progress.finish("sent 2.0 KiB in 0.5 s");
    const frames = r.out().split("\r");
    expect(frames[1]).toBe("sending [------------------------------]   0%  0 B / 2.0 KiB");
    expect(frames[2]).toBe("sending [###############---------------]  50%  1.0 KiB / 2.0 KiB  2.0 KiB/s");
    expect(frames[3]).toBe(" ".repeat(frames[2]?.length ?? 0));
    expect(frames[4]).toBe("sent 2.0 KiB in 0.5 s\n");
    expect(r.out()).not.toContain("\x1b");
  });

  test("redraws at most every 100 ms, but always the last step and never the same text twice", () => {
    const r = recorder();
    for (let done = 0; done <= 10; done++) {
      r.progress.update("verifying", done, 10);
      r.tick(30);
    }
    r.progress.update("verifying", 10, 10);
    expect(
      r
        .out()
        .split("\r")
        .filter(Boolean)
        .map((f) => /(\d+) \/ 10 files/.exec(f)?.[1]),
    ).toEqual(["0", "4", "8", "10"]);
  });

  test("a step of unknown size shows its name; finish without a summary erases it and writes nothing after", () => {
    const r = recorder();
    r.progress.update("scanning", 0, 0);
    r.progress.finish();
    expect(r.out()).toBe("\rscanning...\r           \r");
    r.progress.finish();
    expect(r.out()).toBe("\rscanning...\r           \r");
  });

  test("with colour the bar is tinted and the padding counts only visible characters", () => {
    const r = recorder(true);
    r.progress.update("sending", 1, 2, "bytes");
    r.progress.finish();
    const [, bar, blank] = r.out().split("\r");
    expect(bar).toBe("sending [\x1b[36m###############---------------\x1b[39m]  50%  1 B / 2 B");
    expect(blank).toBe(" ".repeat("sending [###############---------------]  50%  1 B / 2 B".length));
  });
});

describe("meterTransfer", () => {
  test("shows rsync's reports against the known total, then the totals", () => {
    const calls: unknown[][] = [];
    const sink: Progress = { update: (...a) => calls.push(["update", ...a]), finish: (...a) => calls.push(["finish", ...a]) };
    let t = 0;
    const meter = meterTransfer(sink, "send", 200 * 1024 * 1024, () => t);
    meter.onProgress({ bytes: 100 * 1024 * 1024 });
    t = 1250;
    meter.onProgress({ bytes: 200 * 1024 * 1024 });
    meter.finish();
    expect(calls).toEqual([
      ["update", "sending", 100 * 1024 * 1024, 200 * 1024 * 1024, "bytes"],
      ["update", "sending", 200 * 1024 * 1024, 200 * 1024 * 1024, "bytes"],
      ["finish", "sent 200.0 MiB in 1.3 s (160.0 MiB/s)"],
    ]);
  });

  test("no totals line when nothing moved", () => {
    const calls: unknown[][] = [];
    const meter = meterTransfer({ update: () => calls.push(["update"]), finish: (...a) => calls.push(["finish", ...a]) }, "receive", 0);
    meter.finish();
    expect(calls).toEqual([["finish"]]);
  });

  test("formatBytes", () => {
    expect([0, 1023, 1024, 1536, 50 * 1024 * 1024, 3 * 1024 ** 4].map(formatBytes)).toEqual([
      "0 B",
      "1023 B",
      "1.0 KiB",
      "1.5 KiB",
      "50.0 MiB",
      "3.0 TiB",
    ]);
  });
});
