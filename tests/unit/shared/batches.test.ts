import { describe, expect, test } from "bun:test";
import { eachInParallel, inBatches } from "../../../lib/shared/batches.ts";

describe("inBatches", () => {
  test("keeps every item in order, at most maxCount a batch", () => {
    const items = Array.from({ length: 7 }, (_, i) => i);
    expect(inBatches(items, 3, Infinity, () => 1)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
  });

  test("keeps a batch's weight within maxWeight; an item heavier than that is a batch of its own", () => {
    expect(inBatches([4, 4, 1, 20, 1, 1], 100, 9, (w) => w)).toEqual([[4, 4, 1], [20], [1, 1]]);
    expect(inBatches([5, 5], 100, 9, (w) => w)).toEqual([[5], [5]]);
  });

  test("no items, no batch", () => {
    expect(inBatches([], 3, 10, () => 1)).toEqual([]);
  });
});

describe("eachInParallel", () => {
  test("runs every item, never more than `limit` at once, each with its index", async () => {
    let running = 0;
    let most = 0;
    const seen: [string, number][] = [];
    await eachInParallel(["a", "b", "c", "d", "e"], 2, async (item, i) => {
      most = Math.max(most, ++running);
      await Bun.sleep(5);
      seen.push([item, i]);
      running--;
    });
    expect(most).toBe(2);
    expect(seen.sort()).toEqual([
      ["a", 0],
      ["b", 1],
      ["c", 2],
      ["d", 3],
      ["e", 4],
    ]);
  });

  test("after a failure starts nothing new, waits for what is under way, then throws that first error", async () => {
    const started: number[] = [];
    let settled = 0;
    const run = eachInParallel([0, 1, 2, 3, 4, 5], 2, async (i) => {
      started.push(i);
      await Bun.sleep(i === 0 ? 1 : 20);
      settled++;
      if (i === 0) throw new Error("item 0 failed");
    });
    await expect(run).rejects.toThrow("item 0 failed");
    expect(started).toEqual([0, 1]);
    expect(settled).toBe(2);
  });
});
