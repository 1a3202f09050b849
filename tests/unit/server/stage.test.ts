import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SocError } from "../../../lib/shared/errors.ts";
import { md5Bytes } from "../../../lib/shared/hash.ts";
import { createStage, stageDir, verifyStage } from "../../../lib/server/stage.ts";
import { serverState } from "../../_harness/server-state.ts";

describe("stage", () => {
  test("stages are fresh hex-named directories under the state dir, swept after a day", async () => {
    using f = serverState("soc-store-");
    const old = createStage(f.store);
    expect(old.id).toMatch(/^[0-9a-f]{32}$/);
    expect(old.path).toBe(join(f.dir, "state", "stage", old.id));
    expect(stageDir(f.store, old.id)).toBe(old.path);
    const dayAgo = new Date(Date.now() - 25 * 3600 * 1000);
    utimesSync(old.path, dayAgo, dayAgo);
    const recent = createStage(f.store);
    expect(existsSync(old.path)).toBe(false);
    expect(existsSync(recent.path)).toBe(true);
    expect(() => stageDir(f.store, old.id)).toThrow("unknown stage");
    expect(() => stageDir(f.store, "../../store")).toThrow("unknown stage");
  });

  test("the sweep goes by the newest write inside a stage: a long upload into an old directory is kept", async () => {
    using f = serverState("soc-store-");
    const dayAgo = new Date(Date.now() - 25 * 3600 * 1000);
    const busy = createStage(f.store);
    writeFileSync(join(busy.path, "old"), "o");
    mkdirSync(join(busy.path, "deep/er"), { recursive: true });
    writeFileSync(join(busy.path, "deep/er/.part.XYZ"), "still arriving");
    for (const p of ["old", "deep/er", "deep", ""]) utimesSync(join(busy.path, p), dayAgo, dayAgo);
    const idle = createStage(f.store);
    writeFileSync(join(idle.path, "f"), "f");
    for (const p of ["f", ""]) utimesSync(join(idle.path, p), dayAgo, dayAgo);
    createStage(f.store);
    expect(existsSync(busy.path)).toBe(true);
    expect(existsSync(idle.path)).toBe(false);
  });

  test("verifyStage names every staged file that is missing, the wrong size or content, or not a file", async () => {
    using f = serverState("soc-store-");
    const stage = createStage(f.store);
    writeFileSync(join(stage.path, "short"), "ab");
    writeFileSync(join(stage.path, "changed"), "xyz");
    symlinkSync("/etc/passwd", join(stage.path, "link"));
    const want = (path: string, content: string) => ({ path, size: content.length, md5: md5Bytes(content) });
    const error = await verifyStage(f.store, stage.id, [want("short", "abc"), want("changed", "abc"), want("link", "x"), want("missing", "x")]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SocError);
    expect((error as SocError).code).toBe("stage_mismatch");
    expect((error as SocError).details).toEqual({ paths: ["short", "changed", "link", "missing"] });
    expect((error as SocError).message).toBe(
      'staged files do not match the changeset: "short" has 2 bytes, expected 3; "changed" has a different md5; "link" is not a regular file; "missing" is missing',
    );
    await verifyStage(f.store, stage.id, [want("changed", "xyz")]);
  });
});
