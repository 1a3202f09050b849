import { describe, expect, test } from "bun:test";
import { makeHarness, type Harness } from "../_harness/app.ts";

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

  test("every route but /v1/health, as app.routes lists them, answers 401 before it reads or validates a body", async () => {
    await using h = await makeHarness("s3cret");
    const routes = appRoutes(h);
    expect(routes.length).toBeGreaterThan(8);
    expect(routes).toContainEqual(["GET", "/v1/health"]);
    for (const [method, path] of routes) {
      if (path === "/v1/health") continue;
      for (const headers of [{}, { authorization: "Bearer wrong" }] as Record<string, string>[]) {
        const res = await h.app.handle(malformed(method, path, headers));
        expect([method, path, res.status, await res.json()]).toEqual([method, path, 401, UNAUTHORIZED]);
      }
    }
    expect((await h.app.handle(malformed("GET", "/v1/health", {}))).status).toBe(200);
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

describe("requests from web pages", () => {
  test("an Origin naming another origin is refused, on every route and the tunnel's upgrade; no Origin or the server's own passes", async () => {
    await using h = await makeHarness("s3cret");
    const auth = { authorization: "Bearer s3cret" };
    for (const origin of ["http://evil.example", "null", "http://localhost:8080", "https://127.0.0.1"]) {
      for (const path of ["/v1/health", "/v1/info", "/v1/rsync"]) {
        const res = await h.app.handle(new Request(`http://localhost${path}`, { headers: { ...auth, ...UPGRADE, origin } }));
        expect([path, res.status, await res.json()]).toEqual([
          path,
          403,
          { error: { code: "foreign_origin", message: `refused: a request from another origin (${origin}); soc is not driven from web pages` } },
        ]);
      }
    }
    expect((await h.call("GET", "/v1/info", undefined, { ...auth, origin: "http://localhost" })).status).toBe(200);
    expect((await h.call("GET", "/v1/info", undefined, auth)).status).toBe(200);
  });

  test("without a token only loopback Host names are answered (DNS rebinding); --insecure or a token lifts that", async () => {
    await using open = await makeHarness();
    for (const host of ["localhost", "127.0.0.1", "127.1.2.3:8417", "[::1]:8417"]) {
      expect([host, (await open.app.handle(new Request(`http://${host}/v1/info`))).status]).toEqual([host, 200]);
    }
    for (const host of ["evil.example", "10.0.0.5:8417", "localhost.evil.example"]) {
      const res = await open.app.handle(new Request(`http://${host}/v1/health`));
      expect([res.status, await res.json()]).toEqual([
        403,
        {
          error: {
            code: "not_loopback",
            message: `refused: Host ${host} is not a loopback name; a server without a token answers loopback requests only`,
          },
        },
      ]);
    }
    await using insecure = await makeHarness(undefined, { insecure: true });
    expect((await insecure.app.handle(new Request("http://10.0.0.5:8417/v1/info"))).status).toBe(200);
    await using guarded = await makeHarness("s3cret");
    const res = await guarded.app.handle(new Request("http://soc.example.com/v1/info", { headers: { authorization: "Bearer s3cret" } }));
    expect(res.status).toBe(200);
  });
});

// ---------------------------------------------------------------------------

const UPGRADE = { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" };

/** Every route of the app as [method, path]: WebSocket routes as GET (their upgrade request). */
function appRoutes(h: Harness): [string, string][] {
  return h.app.routes.map((r) => [/WS/.test(r.method) ? "GET" : r.method, r.path.replace(/:[^/]+|\*/g, "x")]);
}

/** A request for `path` that no route could accept: a body that is not JSON, a query of the wrong type, upgrade headers. */
function malformed(method: string, path: string, headers: Record<string, string>): Request {
  const body = method === "GET" || method === "HEAD" ? undefined : "{not json";
  return new Request(`http://localhost${path}?since=soon&limit=-1&rev=x`, {
    method,
    headers: { "content-type": "application/json", ...UPGRADE, ...headers },
    body,
  });
}
