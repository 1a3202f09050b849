// Work in batches, on either side: items split into bounded batches (one request each), and a few
// run at a time.

/**
 * Runs `fn` over `items`, at most `limit` at once, in order of start. After the first failure no
 * new item starts; once those under way have settled, that first error is thrown (nothing writes
 * after its caller has cleaned up).
 */
export async function eachInParallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    for (let i = next++; i < items.length && !failed; i = next++) {
      try {
        await fn(items[i] as T, i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;
}

/**
 * `items` in order, in batches of at most `maxCount` items whose `weight`s add up to at most
 * `maxWeight` (an item heavier than that alone); none for no items.
 */
export function inBatches<T>(items: readonly T[], maxCount: number, maxWeight: number, weight: (item: T) => number): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let total = 0;
  for (const item of items) {
    const w = weight(item);
    if (batch.length > 0 && (batch.length >= maxCount || total + w > maxWeight)) {
      batches.push(batch);
      [batch, total] = [[], 0];
    }
    batch.push(item);
    total += w;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
