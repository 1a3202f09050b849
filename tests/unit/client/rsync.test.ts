import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rsyncArgs, runRsync } from "../../../lib/client/rsync.ts";
import { tempDir, writeFile } from "../../_harness/fs.ts";

test("argv: names travel on stdin, NUL-separated; -I for pushes, -c for repairs; basis via --copy-dest", () => {
  expect(rsyncArgs({ src: "/tree", dest: "/stage/abc/", files: ["-e sh"], basis: "/store", compare: "always" })).toEqual([
    "-tp",
    "--chmod=Du+rwx",
    "--ignore-times",
    "--from0",
    "--files-from=-",
    "--copy-dest=/store",
    "/tree/",
    "/stage/abc/",
  ]);
  expect(rsyncArgs({ src: "/a//", dest: "/b", files: [], compare: "checksum" })).toEqual([
    "-tp",
    "--chmod=Du+rwx",
    "--checksum",
    "--from0",
    "--files-from=-",
    "/a/",
    "/b/",
  ]);
});

test("runRsync copies exactly the listed files, odd names included, keeping mtimes", async () => {
  using dir = tempDir();
  const src = join(dir.path, "src");
  const dest = join(dir.path, "dest");
  const names = ["-e sh", "new\nline", "sub/--rsync-path=x", "é"];
  for (const n of names) writeFile(src, n, `data ${n}`);
  writeFileSync(join(src, "not listed"), "x");
  mkdirSync(dest);
  await runRsync({ src, dest, files: names, compare: "always" });
  for (const n of names) expect(readFileSync(join(dest, n), "utf8")).toBe(`data ${n}`);
  expect(Bun.file(join(dest, "not listed")).size).toBe(0);
});

test("a failing rsync names its exit status; a missing rsync says how to install it", async () => {
  using dir = tempDir();
  mkdirSync(join(dir.path, "dest"));
  const bad = runRsync({ src: dir.path, dest: join(dir.path, "dest"), files: ["vanished"], compare: "always" });
  await expect(bad).rejects.toThrow(/^rsync exited with status 23: .*vanished/);
  const named = runRsync({ src: dir.path, dest: dir.path, files: ["x"], compare: "always" }, { rsync: "no-such-rsync" });
  await expect(named).rejects.toThrow("no-such-rsync (named by --rsync) is not an executable program");
  const path = process.env.PATH;
  process.env.PATH = dir.path; // no rsync on it (and none where Homebrew puts one, on this machine)
  try {
    const none = runRsync({ src: dir.path, dest: dir.path, files: ["x"], compare: "always" });
    await expect(none).rejects.toThrow(
      /^rsync not found \(SOC_RSYNC, .*, PATH\); install it \(Debian\/Ubuntu: apt-get install rsync, or `make tools`\), or sync without it: `soc init URL --transport http`$/,
    );
  } finally {
    process.env.PATH = path;
  }
});
