import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { acquireLock } from "../../../lib/client/lock.ts";
import { LockedError } from "../../../lib/shared/errors.ts";
import { ROOT, tempDir } from "../../_harness/fs.ts";
import { holdLock } from "../../_harness/lock.ts";
import { run } from "../../_harness/proc.ts";

describe("acquireLock", () => {
  test("a held lock is refused naming the holder the file records; the holder's death frees it at once", async () => {
    using dir = tempDir();
    const file = join(dir.path, "lock");
    await using holder = await holdLock(file);
    writeFileSync(file, JSON.stringify({ pid: holder.pid, host: "elsewhere", since: "2026-01-01T00:00:00.000Z" }));
    const refused = acquireLock(file, 0);
    await expect(refused).rejects.toThrow(LockedError);
    await expect(refused).rejects.toThrow(`another soc run holds the lock: pid ${holder.pid} on elsewhere since 2026-01-01T00:00:00.000Z (${file})`);
    holder.kill("SIGKILL");
    await holder.exited;
    using _lock = await acquireLock(file, 0);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ pid: process.pid, host: hostname() });
  });

  test("a lock file naming a live process that does not hold it (a reused pid, another boot) is no obstacle", async () => {
    using dir = tempDir();
    const file = join(dir.path, "lock");
    writeFileSync(file, JSON.stringify({ pid: process.ppid, host: hostname(), since: "2020-01-01T00:00:00.000Z" }));
    {
      using _lock = await acquireLock(file, 0);
    }
    expect(readFileSync(file, "utf8")).toBe(""); // released: it names nobody
  });

  test("of three runs racing for a lock a dead run left behind, exactly one holds it at a time", async () => {
    using dir = tempDir();
    const [file, log] = [join(dir.path, "lock"), join(dir.path, "log")];
    writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 1, host: hostname(), since: "2020-01-01T00:00:00.000Z" }));
    const script = `
      import { appendFileSync } from "node:fs";
      import { acquireLock } from ${JSON.stringify(join(ROOT, "lib/client/lock.ts"))};
      for (let i = 0; i < 5; i++) {
        using _lock = await acquireLock(${JSON.stringify(file)}, 120);
        appendFileSync(${JSON.stringify(log)}, "in\\n");
        await Bun.sleep(10);
        appendFileSync(${JSON.stringify(log)}, "out\\n");
      }`;
    const runs = await Promise.all([1, 2, 3].map(() => run(["bun", "-e", script])));
    expect(runs.map((r) => [r.stderr, r.code])).toEqual([
      ["", 0],
      ["", 0],
      ["", 0],
    ]);
    expect(readFileSync(log, "utf8")).toBe("in\nout\n".repeat(15));
  });
});
