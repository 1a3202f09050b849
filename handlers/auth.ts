import { Elysia } from "elysia";
import { isAuthorized } from "../lib/server/auth.ts";
import { RemoteError } from "../lib/shared/errors.ts";

/**
 * The bearer-token guard as a named plugin: every route registered after `.use(authGuard(token))`
 * answers 401 (with WWW-Authenticate, by the error mapping) unless the request carries the token.
 * No token configured lets everything through. Scoped, so it covers the app that uses it and
 * runs once per request, also on the tunnel's WebSocket upgrade.
 */
export function authGuard(token: string | undefined) {
  return new Elysia({ name: "soc-auth", seed: token ?? "" }).onBeforeHandle({ as: "scoped" }, ({ request }) => {
    if (!isAuthorized(request.headers.get("authorization"), token)) {
      throw new RemoteError("missing or wrong bearer token (set SOC_TOKEN)", "unauthorized", 401);
    }
  });
}
