import { openapi } from "@elysiajs/openapi";

/** Where the document and the page live. */
export const OPENAPI_PATHS = { spec: "/v1/openapi.json", page: "/v1/docs" } as const;

/**
 * GET /v1/openapi.json (the OpenAPI 3.1 document, generated here from the routes' own `t`
 * schemas) and GET /v1/docs (a Scalar page reading it). createApp mounts them behind the auth
 * guard like every route but /v1/health, so "only health is open" stays true; on a server
 * without a token they are open like the rest. The page loads Scalar's script from a CDN
 * (pinned); the document itself is built locally on each change of the route table.
 */
export function openapiRoutes(deps: { version: string }) {
  return openapi({
    path: OPENAPI_PATHS.page,
    specPath: OPENAPI_PATHS.spec,
    provider: "scalar",
    // The plugin's default URL is relative to the page, which would resolve under /v1/v1/.
    scalar: { url: OPENAPI_PATHS.spec, version: "1.72.1" },
    documentation: {
      info: {
        title: "soc",
        version: deps.version,
        description: "HTTP API of the soc sync server. File content moves by rsync (the tunnel at /v1/rsync, ssh, or a local path).",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
      paths: { "/v1/rsync": { get: _RSYNC_OPERATION } },
    },
  });
}

// ---------------------------------------------------------------------------

/** The tunnel is a WebSocket, which OpenAPI cannot type; described as the GET it starts with. */
const _RSYNC_OPERATION = {
  operationId: "getV1Rsync",
  summary: "rsync tunnel (WebSocket)",
  description:
    'Upgrades to a WebSocket. The first text frame is rsync\'s remote argv as a JSON array of strings; once checked, binary frames carry rsync\'s protocol both ways. A refusal is one text frame {"error": message}, then close code 1008. While the server runs its limit of rsync sessions, the upgrade (and a plain GET) gets 503 with code "busy"; a plain GET otherwise gets 426.',
  responses: {
    "101": { description: "Switching Protocols" },
    "426": { description: "A plain GET: the tunnel needs Upgrade: websocket" },
    "503": { description: "Busy: the server runs its limit of rsync sessions (--max-rsync-sessions); try again later" },
  },
};
