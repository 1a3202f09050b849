import { describe, expect, test } from "bun:test";
import { lstatSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { changesSince } from "../../lib/server/table.ts";
import type { Upsert } from "../../lib/shared/protocol.ts";
import { makeHarness, type Harness } from "../_harness/app.ts";
import { upsertOf } from "../_harness/upserts.ts";

// Symlinks on the server side: a link travels in the changeset (its target), is made in the
// store as a link, and is never read through. The client side comes with the rest of issue 13.

/** The upsert for a symlink at `path` to `target`: md5 and size are the target's. */
const linkUpsert = (path: string, target: string, baseRev = 0): Upsert => ({ ...upsertOf(path, target, baseRev, { mode: 0o777 }), link: target });

/** Commits `files` (staged) and `links` (path → target) as one push. */
async function pushLinks(h: Harness, files: Record<string, string>, links: Record<string, string>, baseRev = 0) {
  const { stage, upserts } = await h.stage(files, baseRev);
  const res = await h.commit({ stage, upserts: [...upserts, ...Object.entries(links).map(([p, t]) => linkUpsert(p, t, baseRev))] });
  const body = (await res.json()) as Record<string, unknown>;
  await h.commits.finished();
  return { status: res.status, body };
}

const linkIn = (h: Harness, path: string) => {
  const abs = join(h.store.root, path);
  return lstatSync(abs).isSymbolicLink() ? readlinkSync(abs) : undefined;
};

describe("symlinks on the server", () => {
  test("relative, absolute, dangling and directory links are kept as links with their targets, and never read through", async () => {
    await using h = await makeHarness();
    const links = { rel: "sub/f.txt", abs: "/etc/passwd", dangling: "nowhere/at/all", dir: "sub", out: "../../../../../etc/hostname" };
    expect((await pushLinks(h, { "sub/f.txt": "f" }, links)).status).toBe(200);
    for (const [path, target] of Object.entries(links)) expect(linkIn(h, path)).toBe(target);
    expect(changesSince(h.table, 0).files.find((r) => r.path === "abs")).toMatchObject({ link: "/etc/passwd", size: 11, mode: 0o777 });
    expect(changesSince(h.table, 0).files.find((r) => r.path === "sub/f.txt")?.link).toBeUndefined();
    const verify = await (await h.call("POST", "/v1/verify")).json();
    expect(verify).toEqual({ checked: 6, mismatches: [] });
    const content = await h.call("GET", "/v1/content?path=abs");
    expect(content.status).toBe(409);
    expect(await content.text()).toContain("is a symlink");
  });

  test("a link whose target changes, a link replaced by a file and a file by a link; the old link is kept as a version and restored as a link", async () => {
    await using h = await makeHarness();
    await pushLinks(h, { "was-file": "bytes" }, { moves: "first", "becomes-file": "t" });
    expect((await pushLinks(h, { "becomes-file": "now a file" }, { moves: "second", "was-file": "target" }, 1)).status).toBe(200);
    expect(linkIn(h, "moves")).toBe("second");
    expect(linkIn(h, "was-file")).toBe("target");
    expect(linkIn(h, "becomes-file")).toBeUndefined();
    expect(readFileSync(join(h.store.root, "becomes-file"), "utf8")).toBe("now a file");
    expect(readlinkSync(join(h.store.stateDir, "versions/1/moves"))).toBe("first");
    const restored = await h.call("POST", "/v1/restore", { client: "t", paths: [{ path: "moves", rev: 1 }] });
    expect(restored.status).toBe(200);
    await h.commits.finished();
    expect(linkIn(h, "moves")).toBe("first");
  });

  test("a link whose md5 or size is not its target's is refused, and nothing is committed", async () => {
    await using h = await makeHarness();
    const { stage } = await h.stage({});
    const lying = { ...linkUpsert("l", "target"), md5: linkUpsert("x", "other").md5 };
    const res = await h.commit({ stage, upserts: [lying] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("bad_link");
    expect(changesSince(h.table, 0).files).toEqual([]);
  });
});
