/** Blobs moved to or from the object store at once, by one push, one journal run or one joining node. */
export const BLOB_TRANSFERS = 8;

/**
 * Runs `fn` over `items`, at most `limit` at once, in order of start. After the first failure no
 * new item starts; once those under way have settled, that first error is thrown.
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
