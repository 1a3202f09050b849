import { digestOrNull, md5Files, md5OfSymlink } from "../shared/hash.ts";
import { comparePaths } from "../shared/paths.ts";
import type { Verify } from "../shared/protocol.ts";
import { resolveIn, type Store } from "./store.ts";
import type { TablePort } from "./table-port.ts";

/**
 * Re-hashes every live store file (in parallel) against its row and lists those whose bytes
 * differ, sorted by path; `actual` is null when the file is missing or unreadable. A file a
 * commit replaced while it was being hashed is not reported.
 */
export async function verifyStore(table: TablePort, store: Store): Promise<Verify> {
  const rows = await table.liveRows();
  const checked = new Set<string>();
  const files = rows.map((r) => _fileOf(store, r.path, checked));
  // A symlink is checked by its target, never read through.
  const sums = await md5Files(files.filter((f, i) => f !== undefined && rows[i]?.link === null) as string[]);
  let k = 0;
  const mismatches: Verify["mismatches"] = [];
  for (const [i, r] of rows.entries()) {
    const file = files[i];
    const actual = file === undefined ? null : r.link !== null ? md5OfSymlink(file) : digestOrNull(sums[k++]);
    if (actual === r.md5) continue;
    const now = await table.readRow(r.path);
    if (now && !now.deleted && now.rev === r.rev) mismatches.push({ path: r.path, expected: r.md5, actual });
  }
  mismatches.sort((a, b) => comparePaths(a.path, b.path));
  return { checked: rows.length, mismatches };
}

// ---------------------------------------------------------------------------

/** The store file for `path`, or undefined when it cannot be reached safely (a symlinked parent). */
function _fileOf(store: Store, path: string, checked: Set<string>): string | undefined {
  try {
    return resolveIn(store.root, path, checked);
  } catch {
    return undefined;
  }
}
