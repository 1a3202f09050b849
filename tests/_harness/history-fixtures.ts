import type { Harness } from "./app.ts";

export const T0 = 1_700_000_000_000;
export const DAY = 24 * 60 * 60 * 1000;
/** Every code point up to 255 (NUL, newlines, two-byte UTF-8), compared below as raw bytes. */
export const BINARY = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));

/** Pushes `files` (path → content) on `baseRev`, deleting `deletes`; returns status and body once the commit's work is all done. */
export async function push(h: Harness, files: Record<string, string>, baseRev = 0, deletes: string[] = [], allowMassDelete?: boolean) {
  const { stage, upserts } = await h.stage(files, baseRev);
  const res = await h.commit({ stage, upserts, deletes: deletes.map((path) => ({ path, baseRev })), allowMassDelete });
  const body = (await res.json()) as Record<string, unknown>;
  await h.commits.finished(); // the version sweep runs after the answer
  return { status: res.status, body };
}

/** GETs /v1/content?`query`; the body as latin1, so bytes round-trip. */
export async function content(h: Harness, query: string): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await h.call("GET", `/v1/content?${query}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()).toString("latin1"), headers: res.headers };
}

/** The staged content as the harness writes it: UTF-8 of the JS string. */
export const utf8 = (s: string) => Buffer.from(s).toString("latin1");
