import { Elysia } from "elysia";
import { Health } from "../lib/shared/protocol.ts";

/** The one route open without a token. */
export const HEALTH_PATH = "/v1/health";

/** GET /v1/health: liveness, never behind auth. */
export function healthRoutes() {
  return new Elysia().get(HEALTH_PATH, (): Health => ({ ok: true }), { response: Health, detail: { security: [] } });
}
