import { Elysia } from "elysia";
import { isAuthorized } from "../lib/server/auth.ts";
import { RemoteError, SocError } from "../lib/shared/errors.ts";
import { HEALTH_PATH } from "./health.ts";

/**
 * The guard every request passes first, as a named plugin: it runs on the raw request, before
 * routing, before any body is read or validated, and before a WebSocket upgrade.
 * - A request whose `Origin` names another origin is refused (403): a web page may not drive
 *   the server, whatever it holds.
 * - A server without a token (and without --insecure) answers only requests whose Host is a
 *   loopback name or address (403), so DNS rebinding cannot reach it through a browser.
 * - Every route but /v1/health needs the bearer token (401, with WWW-Authenticate from the
 *   error mapping). No token configured lets everything through.
 */
export function requestGuard(opts: { token: string | undefined; insecure?: boolean }) {
  return new Elysia({ name: "soc-guard", seed: opts }).onRequest(({ request }) => {
    const url = new URL(request.url);
    const origin = request.headers.get("origin");
    if (origin !== null && _hostOf(origin) !== url.host) {
      throw new SocError("foreign_origin", `refused: a request from another origin (${origin}); soc is not driven from web pages`, { status: 403 });
    }
    if (opts.token === undefined && !opts.insecure && !_isLoopbackName(url.hostname)) {
      throw new SocError(
        "not_loopback",
        `refused: Host ${url.host} is not a loopback name; a server without a token answers loopback requests only`,
        {
          status: 403,
        },
      );
    }
    if (url.pathname !== HEALTH_PATH && !isAuthorized(request.headers.get("authorization"), opts.token)) {
      throw new RemoteError("missing or wrong bearer token (set SOC_TOKEN)", "unauthorized", 401);
    }
  });
}

// ---------------------------------------------------------------------------

/** `host[:port]` of an Origin header (default ports dropped, as URL.host does); "" when it is not a URL ("null"). */
function _hostOf(origin: string): string {
  try {
    return new URL(origin).host;
  } catch {
    return "";
  }
}

function _isLoopbackName(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.[0-9]{1,3}){3}$/.test(hostname);
}
