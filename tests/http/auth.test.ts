import { describe, expect, test } from "bun:test";
import { makeHarness } from "../_harness/app.ts";

const ROUTES: [string, string, unknown][] = [
  ["GET", "/v1/info", undefined],
  ["GET", "/v1/changes?since=0", undefined],
  ["POST", "/v1/push/begin", { client: "c" }],
  ["GET", "/v1/log", undefined],
  ["POST", "/v1/verify", undefined],
];

const UNAUTHORIZED = { error: { code: "unauthorized", message: "missing or wrong bearer token (set SOC_TOKEN)" } };

describe("auth", () => {
  test("without a configured token every route is open", async () => {
    await using h = await makeHarness();
    for (const [method, path, body] of ROUTES) expect((await h.call(method, path, body, {})).status).toBe(200);
  });

  test("with a token: missing, wrong, other schemes and ?access_token= get 401 with WWW-Authenticate", async () => {
    await using h = await makeHarness("s3cret");
    const refused: [Record<string, string>, string][] = [
      [{}, ""],
      [{ authorization: "Bearer wrong" }, ""],
      [{ authorization: "Bearer s3cre" }, ""],
      [{ authorization: "Basic czNjcmV0" }, ""],
      [{ authorization: "s3cret" }, ""],
      [{}, "access_token=s3cret"],
    ];
    for (const [method, path, body] of ROUTES) {
      for (const [headers, query] of refused) {
        const url = query ? `${path}${path.includes("?") ? "&" : "?"}${query}` : path;
        const res = await h.call(method, url, body, headers);
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe('Bearer realm="soc"');
        expect(await res.json()).toEqual(UNAUTHORIZED);
      }
    }
  });

  test("with a token: the right one passes, whatever the scheme's case", async () => {
    await using h = await makeHarness("s3cret");
    for (const [method, path, body] of ROUTES) {
      for (const scheme of ["Bearer", "bearer", "BEARER"]) {
        expect((await h.call(method, path, body, { authorization: `${scheme} s3cret` })).status).toBe(200);
      }
    }
  });

  test("a refused request changes nothing", async () => {
    await using h = await makeHarness("s3cret");
    const res = await h.call(
      "POST",
      "/v1/push/commit",
      { stage: "0".repeat(32), client: "x", upserts: [], deletes: [], roots: { set: [{ path: "a", kind: "dir" }], remove: [] } },
      {},
    );
    expect(res.status).toBe(401);
    expect(await (await h.call("GET", "/v1/changes?since=0")).json()).toEqual({ revision: 0, files: [], roots: [] });
  });
});
