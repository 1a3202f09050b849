import { expect, test } from "bun:test";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BASE_STAT_FIELDS, changeBase, loadBaseIndex, type BaseIndex } from "../../../lib/client/base-index.ts";
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

/** An index's entries as [path, its numbers], sorted: what two indexes of one base must agree on. */
function contents(index: BaseIndex): [string, number[]][] {
  return Array.from({ length: index.count }, (_, j): [string, number[]] => [
    index.pathAt(j),
    [...index.stats.subarray(j * BASE_STAT_FIELDS, (j + 1) * BASE_STAT_FIELDS)],
  ]).sort(([a], [b]) => (a < b ? -1 : 1));
}

test("a change made through changeBase leaves the snapshot current: what the database would say, at its generation", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  const file = join(dir.path, "base-snapshot");
  updateBase(
    db,
    ["a", "b", "c", "d", "e"].map((p) => entry(p)),
  );
  const index = loadBaseIndex(db, file);
  const at = (p: string) => [0, 1, 2, 3, 4].find((j) => index.pathAt(j) === p) as number;
  const next = changeBase(
    db,
    file,
    index,
    { updated: [{ at: at("b"), entry: entry("b", 9) }], added: [entry("f/é", 3)], removed: [at("a"), at("d")] },
    () => updateBase(db, [entry("b", 9), entry("f/é", 3)], ["a", "d"]),
  );
  expect(next?.generation).toBe(baseGeneration(db));
  const fromSnapshot = loadBaseIndex(db, file);
  expect(fromSnapshot.generation).toBe(baseGeneration(db));
  rmSync(file);
  const fromDatabase = loadBaseIndex(db, file);
  expect(contents(fromSnapshot)).toEqual(contents(fromDatabase));
  expect(contents(fromDatabase).map(([p]) => p)).toEqual(["b", "c", "e", "f/é"]);
});

test("changeBase leaves the snapshot stale when someone else changed the base since the index was read", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  const file = join(dir.path, "base-snapshot");
  updateBase(db, [entry("a")]);
  const index = loadBaseIndex(db, file);
  updateBase(db, [entry("other", 4)]); // another run's write
  expect(changeBase(db, file, index, { updated: [], added: [entry("mine")], removed: [] }, () => updateBase(db, [entry("mine")]))).toBeUndefined();
  expect(contents(loadBaseIndex(db, file)).map(([p]) => p)).toEqual(["a", "mine", "other"]);
});

test("a change of stat only is written into the snapshot in place, and a snapshot caught half-way (-1) is never trusted", () => {
  using dir = tempDir();
  using db = openState(join(dir.path, "state.db"));
  const file = join(dir.path, "base-snapshot");
  updateBase(
    db,
    ["a", "b", "c"].map((p) => entry(p)),
  );
  const index = loadBaseIndex(db, file);
  const inode = statSync(file).ino;
  const b = [0, 1, 2].find((j) => index.pathAt(j) === "b") as number;
  const next = changeBase(db, file, index, { updated: [{ at: b, entry: entry("b", 7) }], added: [], removed: [] }, () =>
    refreshBase(db, [entry("b", 7)]),
  );
  expect(next?.generation).toBe(baseGeneration(db));
  expect(statSync(file).ino).toBe(inode);
  const fromSnapshot = loadBaseIndex(db, file);
  expect(fromSnapshot.stats[b * BASE_STAT_FIELDS]).toBe(7);
  rmSync(file);
  expect(contents(loadBaseIndex(db, file))).toEqual(contents(fromSnapshot));
  // A writer that stopped between its two header writes leaves -1: the next scan reads the database.
  const bytes = readFileSync(file);
  bytes.writeDoubleLE(-1, 8);
  bytes.writeDoubleLE(99, 32 + b * BASE_STAT_FIELDS * 8);
  writeFileSync(file, bytes);
  expect(loadBaseIndex(db, file).stats[b * BASE_STAT_FIELDS]).toBe(7);
});
