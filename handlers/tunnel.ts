import { Elysia } from "elysia";
import { SocError } from "../lib/shared/errors.ts";
import { checkRsyncArgv } from "../lib/server/tunnel-argv.ts";
import { startRsyncSession, type RsyncSession, type TunnelSocket } from "../lib/server/tunnel-session.ts";
import { stageDir } from "../lib/server/stage.ts";
import type { Store } from "../lib/server/store.ts";

/**
 * GET /v1/rsync (WebSocket): the tunnel transport. The first text frame is rsync's remote argv
 * as JSON; once checked, binary frames carry rsync's protocol both ways. A refusal is one
 * `{"error":…}` frame, then close. Auth is the app's guard, which runs before the upgrade.
 */
export function tunnelRoutes(deps: {
  store: Store;
  rsync?: string;
  onInternalError?: (error: unknown) => void;
  onRsyncSession?: (session: RsyncSession) => void;
}) {
  const rsync = deps.rsync ?? Bun.which("rsync") ?? "rsync";
  const places = { store: deps.store.root, stage: (id: string) => stageDir(deps.store, id) };
  // Keyed by the connection's own data object, which Bun keeps for the socket's lifetime.
  const sessions = new WeakMap<object, RsyncSession | "refused">();
  return new Elysia({ prefix: "/v1" }).ws("/rsync", {
    message(ws, message) {
      const socket = ws.raw as unknown as TunnelSocket;
      const session = sessions.get(ws.raw.data);
      if (session === "refused") return;
      if (session) return session.receive(message);
      try {
        const started = startRsyncSession(socket, checkRsyncArgv(message, places, rsync));
        sessions.set(ws.raw.data, started);
        deps.onRsyncSession?.(started);
      } catch (error) {
        sessions.set(ws.raw.data, "refused");
        if (!(error instanceof SocError)) deps.onInternalError?.(error);
        socket.sendText(JSON.stringify({ error: error instanceof SocError ? error.message : "internal error" }));
        socket.close(1008, "refused");
      }
    },
    drain(ws) {
      const session = sessions.get(ws.raw.data);
      if (typeof session === "object") session.drained();
    },
    close(ws) {
      const session = sessions.get(ws.raw.data);
      if (typeof session === "object") session.closed();
    },
  });
}
