import { describe, expect, test } from "bun:test";
import { pathBatches } from "../../../lib/client/api.ts";
import { CHANGESET_PART_BYTES, VIEW_MAX_PATHS } from "../../../lib/shared/wire.ts";

describe("pathBatches", () => {
  test("keeps every path, in order, in batches of at most VIEW_MAX_PATHS", () => {
    const paths = Array.from({ length: 2 * VIEW_MAX_PATHS + 1 }, (_, i) => `p${i}`);
    const batches = pathBatches(paths);
    expect(batches.map((b) => b.length)).toEqual([VIEW_MAX_PATHS, VIEW_MAX_PATHS, 1]);
    expect(batches.flat()).toEqual(paths);
  });

  test("keeps each batch's JSON under CHANGESET_PART_BYTES, and a path longer than that alone", () => {
    const long = "x".repeat(4000);
    const batches = pathBatches(Array.from({ length: 500 }, (_, i) => `${long}${i}`));
    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) expect(Buffer.byteLength(JSON.stringify(batch))).toBeLessThanOrEqual(CHANGESET_PART_BYTES);
    expect(batches.flat().length).toBe(500);
  });

  test("no paths: no batch, unless one is always wanted (then one, empty)", () => {
    expect(pathBatches([])).toEqual([]);
    expect(pathBatches([], { always: true })).toEqual([[]]);
  });
});
