import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BASE_STAT_FIELDS, loadBaseIndex } from "../../../lib/client/base-index.ts";
import { baseGeneration, openState, reattachState, refreshBase, updateBase, type BaseEntry } from "../../../lib/client/state.ts";
import { tempDir } from "../../_harness/fs.ts";

const entry = (path: string, size = 1): BaseEntry => ({
  path,
  size,
  mtimeNs: 1_732_400_000_123_456_789n,
  ctimeNs: 1_732_400_000_987_654_321n,
  md5: "900150983cd24fb0d6963f7d28e17f72",
  mode: 0o644,
  rev: 7,
  checkedNs: 1_732_400_009_000_000_000n,
});

test("every change to the base moves its generation, whoever makes it", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  const seen = [baseGeneration(db)];
  updateBase(db, [entry("a"), entry("b")]);
  seen.push(baseGeneration(db));
  refreshBase(db, [{ ...entry("a"), size: 2 }]);
  seen.push(baseGeneration(db));
  updateBase(db, [], ["b"]);
  seen.push(baseGeneration(db));
  db.run("UPDATE base SET checked_ns = 0"); // any writer, not only state.ts's functions
  seen.push(baseGeneration(db));
  reattachState(db, "another-server");
  seen.push(baseGeneration(db));
  for (let i = 1; i < seen.length; i++) expect(seen[i] as number).toBeGreaterThan(seen[i - 1] as number);
});

test("a scan reads the snapshot only while it copies the current base; a stale or damaged one is rebuilt", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  const file = join(dir.path, "base-snapshot");
  updateBase(db, [entry("x/é"), entry("y", 5)]);
  const first = loadBaseIndex(db, file);
  expect([first.count, first.pathAt(0), first.pathAt(1)].sort()).toEqual([2, "x/é", "y"].sort());
  const written = readFileSync(file);
  // Same generation: the file is what is read (prove it by planting a different size in it).
  const planted = Buffer.from(written);
  const y = [first.pathAt(0), first.pathAt(1)].indexOf("y");
  planted.writeDoubleLE(99, 32 + y * BASE_STAT_FIELDS * 8);
  writeFileSync(file, planted);
  expect(loadBaseIndex(db, file).stats[y * BASE_STAT_FIELDS]).toBe(99);
  // Any change to the base makes it stale: the database is read and the snapshot rewritten.
  updateBase(db, [entry("z")]);
  const after = loadBaseIndex(db, file);
  expect(after.count).toBe(3);
  expect(after.stats[y * BASE_STAT_FIELDS]).toBe(5);
  expect(readFileSync(file).equals(written)).toBe(false);
  // A damaged snapshot (cut short) is read past, never trusted.
  writeFileSync(file, readFileSync(file).subarray(0, 60));
  expect(loadBaseIndex(db, file).count).toBe(3);
});
