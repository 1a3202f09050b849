import type { Database } from "bun:sqlite";
import { lstatSync } from "node:fs";
import { join } from "node:path";
import { digestOrNull, md5Files } from "../shared/hash.ts";
import { comparePaths } from "../shared/paths.ts";
import type { RepoLayout } from "./repo.ts";
import { readBase } from "./state.ts";

/** A tracked file whose bytes no longer match the base although its size and mtime do. */
export interface VerifyMismatch {
  path: string;
  expected: string;
  actual: string;
}

/**
 * Re-hashes every file whose size and mtime still match its base entry and returns those whose
 * content does not: silent corruption, or an edit whose mtime was put back. Files whose stat
 * moved are ordinary changes (`soc status` lists them) and are not read.
 */
export async function verifyTree(layout: RepoLayout, db: Database): Promise<{ checked: number; mismatches: VerifyMismatch[] }> {
  const entries = [...readBase(db).values()].filter((b) => {
    const st = lstatSync(join(layout.top, b.path), { bigint: true, throwIfNoEntry: false });
    return st?.isFile() === true && Number(st.size) === b.size && st.mtimeNs === b.mtimeNs;
  });
  const sums = await md5Files(entries.map((b) => join(layout.top, b.path)));
  const mismatches = entries.flatMap((b, i) => {
    const actual = digestOrNull(sums[i]);
    return actual !== null && actual !== b.md5 ? [{ path: b.path, expected: b.md5, actual }] : [];
  });
  return { checked: entries.length, mismatches: mismatches.sort((x, y) => comparePaths(x.path, y.path)) };
}
