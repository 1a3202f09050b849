import type { Database } from "bun:sqlite";
import { lstatSync } from "node:fs";
import { join } from "node:path";
import { digestOrNull, md5Files, md5OfSymlink } from "../shared/hash.ts";
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
 * Re-hashes every file whose size and mtime still match its base entry (and re-reads every such
 * symlink's target) and returns those whose content does not: silent corruption, or an edit
 * whose mtime was put back. Files whose stat moved are ordinary changes (`soc status` lists
 * them) and are not read.
 */
export async function verifyTree(layout: RepoLayout, db: Database): Promise<{ checked: number; mismatches: VerifyMismatch[] }> {
  const entries = [...readBase(db).values()].filter((b) => {
    const st = lstatSync(join(layout.top, b.path), { bigint: true, throwIfNoEntry: false });
    const sameKind = b.link === undefined ? st?.isFile() : st?.isSymbolicLink();
    return sameKind === true && Number(st?.size) === b.size && st?.mtimeNs === b.mtimeNs;
  });
  const files = entries.filter((b) => b.link === undefined);
  const sums = await md5Files(files.map((b) => join(layout.top, b.path)));
  const actual = new Map(files.map((b, i) => [b.path, digestOrNull(sums[i])]));
  // A symlink's md5 is its target's, read without following it.
  for (const b of entries) if (b.link !== undefined) actual.set(b.path, md5OfSymlink(join(layout.top, b.path)));
  const mismatches = entries.flatMap((b) => {
    const sum = actual.get(b.path) ?? null;
    return sum !== null && sum !== b.md5 ? [{ path: b.path, expected: b.md5, actual: sum }] : [];
  });
  return { checked: entries.length, mismatches: mismatches.sort((x, y) => comparePaths(x.path, y.path)) };
}
