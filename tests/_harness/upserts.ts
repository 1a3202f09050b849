import { md5Bytes } from "../../lib/shared/hash.ts";
import type { StoredUpsert } from "../../lib/server/changeset-plan.ts";
import type { Upsert } from "../../lib/shared/protocol.ts";

export const MD5_A = "a".repeat(32);
export const MD5_B = "b".repeat(32);

/** An upsert of `path`: 3 bytes with `md5`, mode 644, a fixed mtime, built on `baseRev`; `extra` overrides any field. */
export function up(path: string, md5 = MD5_A, baseRev = 0, extra: Partial<StoredUpsert> = {}): StoredUpsert {
  return { path, size: 3, md5, mode: 0o644, mtimeNs: "1700000000123456789", baseRev, ...extra };
}

/** The upsert that writes `content` to `path` (its real size and md5), otherwise as up(). */
export function upsertOf(path: string, content: string, baseRev = 0, extra: Partial<Upsert> = {}): Upsert {
  return up(path, md5Bytes(content), baseRev, { size: Buffer.byteLength(content), ...extra });
}
