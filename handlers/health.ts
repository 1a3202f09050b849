import { Elysia } from "elysia";
import { Health } from "../lib/shared/protocol.ts";

/** GET /v1/health: liveness, never behind auth. */
export function healthRoutes() {
  return new Elysia({ prefix: "/v1" }).get("/health", (): Health => ({ ok: true }), { response: Health, detail: { security: [] } });
}
