import { describe, expect, test } from "bun:test";
import { VIEW_MAX_BYTES, viewParts, type TransferFile } from "../../../lib/client/transport.ts";
import { VIEW_MAX_PATHS } from "../../../lib/shared/wire.ts";

const file = (path: string, size: number): TransferFile => ({ path, size, md5: "0".repeat(32), mtimeNs: "0" });

describe("viewParts", () => {
  test("keeps every file, in order, at most VIEW_MAX_PATHS a part", () => {
    const files = Array.from({ length: VIEW_MAX_PATHS + 1 }, (_, i) => file(`f${i}`, 1));
    const parts = viewParts(files);
    expect(parts.map((p) => p.length)).toEqual([VIEW_MAX_PATHS, 1]);
    expect(parts.flat()).toEqual(files);
  });

  test("keeps a part's content within VIEW_MAX_BYTES; a bigger file is a part of its own", () => {
    const half = VIEW_MAX_BYTES / 2;
    const parts = viewParts([file("a", half), file("b", half), file("c", 1), file("huge", 3 * VIEW_MAX_BYTES), file("d", 1)]);
    expect(parts.map((p) => p.map((f) => f.path))).toEqual([["a", "b"], ["c"], ["huge"], ["d"]]);
    expect(viewParts([])).toEqual([]);
  });
});
