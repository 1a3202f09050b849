import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHANGES_PAGE_ROWS, CHANGESET_PART_BYTES } from "../../lib/shared/wire.ts";
import { cli } from "../_harness/cli.ts";
import { tempDir, tree } from "../_harness/fs.ts";
import { startServer } from "../_harness/server.ts";

// More paths than one changes page, and a changeset several parts long: the mechanics a
// million-path tree relies on, at a size a test can afford.
const FILES = CHANGES_PAGE_ROWS + 50;

describe("a tree bigger than one request", () => {
  test("its push sends the changeset in parts and commits it as one revision; a clone pages through the changes", async () => {
    using dir = tempDir();
    await using server = await startServer();
    const a = join(dir.path, "a");
    for (let i = 0; i < FILES; i++) {
      const sub = join(a, "d", String(i % 100));
      if (i < 100) mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, `f${i}`), String(i));
    }
    await cli(a, ["init", server.url]);
    await cli(a, ["add", "-r", "d"]);
    const push = JSON.parse((await cli(a, ["push", "--json"])).stdout) as { revision: number; transferred: string[] };
    expect([push.revision, push.transferred.length]).toEqual([1, FILES]);
    const parts = server.log().match(/POST \/v1\/push\/part 200/g)?.length ?? 0;
    // Each upsert is well over 100 bytes of JSON.
    expect(parts).toBeGreaterThanOrEqual(Math.floor((FILES * 100) / CHANGESET_PART_BYTES));
    expect(parts).toBeGreaterThan(0);
    await cli(dir.path, ["clone", server.url, join(dir.path, "b")]);
    expect(server.log().match(/GET \/v1\/changes 200/g)?.length).toBe(2);
    expect(tree(join(dir.path, "b/d"))).toEqual(tree(join(a, "d")));
  });
});
