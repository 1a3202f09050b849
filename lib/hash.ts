import { closeSync, openSync, readSync } from "node:fs";

const CHUNK = 1024 * 1024;

/** Hex md5 of a file's bytes, streamed in 1 MiB reads. Throws the fs error if it cannot be read. */
export function md5File(path: string, buf: Uint8Array = new Uint8Array(CHUNK)): string {
  const hasher = new Bun.CryptoHasher("md5");
  const fd = openSync(path, "r");
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hasher.update(n === buf.length ? buf : buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hasher.digest("hex");
}

/** Hex md5 of in-memory bytes. */
export function md5Bytes(data: Uint8Array | string): string {
  return new Bun.CryptoHasher("md5").update(data).digest("hex");
}

/**
 * Hashes many files; results in input order. A file that cannot be read yields `null`
 * (it vanished or became unreadable mid-scan) instead of failing the whole batch.
 */
export async function md5Files(paths: readonly string[]): Promise<(string | null)[]> {
  const buf = new Uint8Array(CHUNK);
  return paths.map((p) => {
    try {
      return md5File(p, buf);
    } catch {
      return null;
    }
  });
}
