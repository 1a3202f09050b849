import { describe, expect, test } from "bun:test";
import { OPENAPI_PATHS } from "../../handlers/openapi.ts";
import { makeHarness } from "../_harness/app.ts";

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
  responses?: Record<string, { content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }>;
  security?: unknown[];
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
}

async function fetchDocument(h: Awaited<ReturnType<typeof makeHarness>>): Promise<Document> {
  const res = await h.call("GET", OPENAPI_PATHS.spec);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("application/json");
  return JSON.parse(await res.text()) as Document;
}

describe("GET /v1/openapi.json", () => {
  test("is an OpenAPI 3.x document listing every route the app serves, with its method", async () => {
    await using h = await makeHarness();
    const doc = await fetchDocument(h);
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: "soc", version: "9.9.9" });
    // From the app's own route table, so a route added without reaching the document fails here.
    // The WebSocket tunnel and the plain GET beside it (why an upgrade would be refused) are one
    // operation, the GET that opens the tunnel; the two documentation routes are not listed.
    const served = [
      ...new Set(
        h.app.routes
          .filter((r) => r.path !== OPENAPI_PATHS.spec && r.path !== OPENAPI_PATHS.page)
          .map((r) => `${r.method === "WS" ? "get" : r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
      ),
    ].sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
      .sort();
    expect(documented).toEqual(served);
    expect(served).toEqual([
      "get /v1/changes",
      "get /v1/content",
      "get /v1/health",
      "get /v1/info",
      "get /v1/log",
      "get /v1/rsync",
      "head /v1/uploads/{md5}",
      "patch /v1/uploads/{md5}",
      "post /v1/push/abort",
      "post /v1/push/basis",
      "post /v1/push/begin",
      "post /v1/push/commit",
      "post /v1/push/part",
      "post /v1/push/place",
      "post /v1/restore",
      "post /v1/verify",
      "post /v1/view/begin",
      "post /v1/view/end",
      "post /v1/view/part",
    ]);
  });

  test("carries the routes' schemas: query parameters, request bodies and response shapes", async () => {
    await using h = await makeHarness();
    const { paths } = await fetchDocument(h);
    const json = (op: Operation | undefined, status = "200") => op?.responses?.[status]?.content?.["application/json"]?.schema.properties ?? {};
    expect(paths["/v1/changes"]?.get?.parameters?.map((p) => [p.name, p.in])).toEqual([
      ["since", "query"],
      ["afterRev", "query"],
      ["afterPath", "query"],
      ["limit", "query"],
      ["wait", "query"],
    ]);
    expect(Object.keys(json(paths["/v1/changes"]?.get))).toEqual(["revision", "files", "roots", "next", "database", "head"]);
    expect(Object.keys(json(paths["/v1/info"]?.get))).toEqual(["server", "api", "revision", "database", "transports", "store", "views"]);
    expect(Object.keys(paths["/v1/push/commit"]?.post?.requestBody?.content["application/json"]?.schema.properties ?? {})).toEqual([
      "stage",
      "client",
      "parts",
      "upserts",
      "deletes",
      "roots",
      "allowMassDelete",
      "repair",
    ]);
    expect(Object.keys(json(paths["/v1/push/commit"]?.post))).toEqual(["revision", "stored", "deleted"]);
    expect(paths["/v1/content"]?.get?.parameters?.map((p) => p.name)).toEqual(["path", "rev"]);
    expect(Object.keys(paths["/v1/content"]?.get?.responses?.["200"]?.content ?? {})).toEqual(["application/octet-stream"]);
    expect(Object.keys(json(paths["/v1/verify"]?.post))).toEqual(["checked", "mismatches"]);
    // Health is the one route without the bearer scheme.
    expect(paths["/v1/health"]?.get?.security).toEqual([]);
  });

  test("with a token it is behind auth like every route but health", async () => {
    await using h = await makeHarness("s3cret");
    for (const path of [OPENAPI_PATHS.spec, OPENAPI_PATHS.page]) {
      const refused = await h.call("GET", path, undefined, {});
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({ error: { code: "unauthorized", message: "missing or wrong bearer token (set SOC_TOKEN)" } });
    }
    expect((await fetchDocument(h)).openapi).toStartWith("3.");
  });
});

describe("GET /v1/docs", () => {
  test("is an HTML page that reads the document from /v1/openapi.json", async () => {
    await using h = await makeHarness();
    const res = await h.call("GET", OPENAPI_PATHS.page);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    const html = await res.text();
    expect(html).toContain("<title>soc</title>");
    expect(html).toContain(`"url":"${OPENAPI_PATHS.spec}"`);
  });
});
