import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { holdsSymlinks, keepsModes, nameLimitsAt } from "../../../lib/client/portability.ts";
import { tempDir } from "../../_harness/fs.ts";

// The probes run against this machine's real filesystem. The refusing side is played by
// SOC_TEST_FS=windows here; exFAT (where chmod is ignored and symlink(2) fails with ENOSYS) was
// checked by hand, as mounting one needs privileges a CI machine may not grant.
describe("what a filesystem can hold, by probe", () => {
  test("this machine's temp directory keeps modes, makes symlinks and tells case apart; the probes leave nothing behind", () => {
    using dir = tempDir();
    expect(keepsModes(dir.path, {})).toBe(true);
    expect(holdsSymlinks(dir.path, {})).toBe(true);
    expect(nameLimitsAt(dir.path, {})).toEqual({ windows: false, caseInsensitive: false });
    expect(readdirSync(dir.path)).toEqual([]);
  });

  test("Windows keeps no modes, makes no symlinks without the privilege, and folds case", () => {
    using dir = tempDir();
    const windows = { SOC_TEST_FS: "windows" };
    expect([keepsModes(dir.path, windows), holdsSymlinks(dir.path, windows), nameLimitsAt(dir.path, windows)]).toEqual([
      false,
      false,
      { windows: true, caseInsensitive: true },
    ]);
  });

  test("a probe that cannot be made is no answer: soc goes on as if the filesystem could", () => {
    using dir = tempDir();
    const missing = join(dir.path, "no such directory");
    expect([keepsModes(missing, {}), holdsSymlinks(missing, {})]).toEqual([true, true]);
  });
});
