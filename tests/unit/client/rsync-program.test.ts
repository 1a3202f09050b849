import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RsyncProgress } from "../../../lib/client/progress.ts";
import { runRsync } from "../../../lib/client/rsync.ts";
import { classifyRsync, findRsync, RSYNC_CANDIDATES } from "../../../lib/client/rsync-program.ts";
import { tempDir } from "../../_harness/fs.ts";
import { openrsyncShim, VERSION_TEXTS } from "../../_harness/openrsync.ts";

const REAL = Bun.which("rsync") as string;

describe("classifyRsync", () => {
  test("tells openrsync, rsync before 3.1 and rsync 3.1 on apart by --version", () => {
    expect(classifyRsync(VERSION_TEXTS.openrsync)).toEqual({ kind: "openrsync", version: "protocol 29", progress2: false });
    expect(classifyRsync(VERSION_TEXTS.rsync269)).toEqual({ kind: "rsync", version: "2.6.9", progress2: false });
    expect(classifyRsync(VERSION_TEXTS.rsync309)).toEqual({ kind: "rsync", version: "3.0.9", progress2: false });
    expect(classifyRsync(VERSION_TEXTS.rsync323)).toEqual({ kind: "rsync", version: "3.2.3", progress2: true });
    expect(classifyRsync(VERSION_TEXTS.rsync350)).toEqual({ kind: "rsync", version: "3.5.0", progress2: true });
  });

  test("anything else is no rsync", () => {
    for (const text of ["", "GNU coreutils 9.1", "rsync: unrecognized option '--version'", "version 3.2.7"])
      expect(classifyRsync(text)).toBeUndefined();
  });
});

describe("findRsync", () => {
  // Homebrew's paths come before PATH; on this Linux machine neither exists.
  const noHomebrew = RSYNC_CANDIDATES.every((p) => Bun.which(p) === null);

  test("the first rsync on PATH when nothing names one, classified", () => {
    using dir = tempDir();
    const { bin } = openrsyncShim(dir.path, REAL);
    if (!noHomebrew) throw new Error(`a Homebrew rsync is installed here (${RSYNC_CANDIDATES.join(", ")}): it would be found first`);
    expect(findRsync({ PATH: `${bin}:/usr/bin:/bin` })).toEqual({
      path: join(bin, "rsync"),
      kind: "openrsync",
      version: "protocol 29",
      progress2: false,
    });
    expect(findRsync({ PATH: "/usr/bin:/bin" })).toMatchObject({ path: REAL, kind: "rsync", progress2: true });
    expect(findRsync({ PATH: dir.path })).toBeUndefined();
  });

  test("SOC_RSYNC wins over the tree's config, which wins over PATH", () => {
    using dir = tempDir();
    const shim = openrsyncShim(dir.path, REAL).path;
    expect(findRsync({ PATH: "/usr/bin:/bin", SOC_RSYNC: shim }, REAL)?.path).toBe(shim);
    expect(findRsync({ PATH: "/usr/bin:/bin" }, shim)?.path).toBe(shim);
  });

  test("a named program that is missing, or is not rsync, is refused by name", () => {
    using dir = tempDir();
    const fake = join(dir.path, "fake-rsync");
    writeFileSync(fake, "#!/bin/sh\necho 'GNU coreutils 9.1'\n", { mode: 0o755 });
    expect(() => findRsync({ PATH: "/usr/bin:/bin", SOC_RSYNC: join(dir.path, "nowhere") })).toThrow(
      /nowhere \(named by SOC_RSYNC\) is not an executable program/,
    );
    expect(() => findRsync({ PATH: "/usr/bin:/bin" }, fake)).toThrow(/fake-rsync does not say it is rsync or openrsync .*GNU coreutils/);
  });
});

describe("runRsync with an rsync that has no --info (openrsync)", () => {
  test("it gets --progress, and its per-file reports add up over the run", async () => {
    using dir = tempDir();
    const shim = openrsyncShim(dir.path, REAL);
    const src = join(dir.path, "src");
    mkdirSync(join(src, "sub"), { recursive: true });
    mkdirSync(join(dir.path, "dest"));
    const files = ["a", "b", "sub/c"];
    for (const f of files) writeFileSync(join(src, f), Buffer.alloc(300_000, f));
    const reports: RsyncProgress[] = [];
    await runRsync({ src, dest: join(dir.path, "dest"), files, compare: "always" }, { rsync: shim.path, onProgress: (p) => reports.push(p) });
    expect(shim.calls().map((argv) => argv.split(" ")[0])).toEqual(["--version", "--progress"]);
    expect(reports.at(-1)).toMatchObject({ bytes: 900_000, transferred: 3, toCheck: 0 });
    expect(reports.map((r) => r.bytes)).toEqual(reports.map((r) => r.bytes).sort((x, y) => x - y));
    expect(Bun.file(join(dir.path, "dest/sub/c")).size).toBe(300_000);
  });
});
