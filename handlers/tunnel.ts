import { Elysia } from "elysia";
import { DEFAULT_MAX_RSYNC_SESSIONS } from "../lib/server/config.ts";
import { SocError } from "../lib/shared/errors.ts";
import { checkRsyncArgv, type RsyncPlaces } from "../lib/server/tunnel-argv.ts";
import { startRsyncSession, type RsyncSession, type TunnelSocket } from "../lib/server/tunnel-session.ts";
import { createTunnelSlots, type TunnelSlots } from "../lib/server/tunnel-slots.ts";
import { basisDir, stageDir } from "../lib/server/stage.ts";
import { viewDir } from "../lib/server/views.ts";
import type { Store } from "../lib/server/store.ts";

/** One tunnel connection: whether it holds one of the server's slots, and its session once the argv came. */
interface Connection {
  slot: boolean;
  session?: RsyncSession | "refused";
}

/**
 * GET /v1/rsync (WebSocket): the tunnel transport. The first text frame is rsync's remote argv
 * as JSON; once checked, binary frames carry rsync's protocol both ways. A refusal is one
 * `{"error":…}` frame, then close. Auth is the app's guard, which runs before the upgrade. At
 * most `maxRsyncSessions` connections at once: past that the upgrade gets 503 (code "busy"), and so
 * does a plain GET, which the client can read.
 */
export function tunnelRoutes(deps: {
  store: Store;
  rsync?: string;
  maxRsyncSessions?: number;
  onInternalError?: (error: unknown) => void;
  onRsyncSession?: (session: RsyncSession) => void;
}) {
  const rsync = deps.rsync ?? Bun.which("rsync") ?? "rsync";
  const { store } = deps;
  const places: RsyncPlaces = {
    store: store.root,
    stage: (id) => stageDir(store, id),
    // A node with a cache: downloads read a view, uploads reuse their stage's basis.
    ...(store.cache ? { sessions: { view: (id) => viewDir(store, id), basis: (id) => basisDir(store, id) } } : {}),
  };
  const slots = createTunnelSlots(deps.maxRsyncSessions ?? DEFAULT_MAX_RSYNC_SESSIONS);
  // Keyed by the connection's own data object, which Bun keeps for the socket's lifetime.
  const connections = new WeakMap<object, Connection>();
  return new Elysia({ prefix: "/v1" })
    .ws("/rsync", {
      // Runs twice on an upgrade, so it only looks; open() takes the slot (and refuses a racing one).
      beforeHandle() {
        if (slots.full()) throw slots.busy();
      },
      open(ws) {
        const slot = slots.take();
        connections.set(ws.raw.data, slot ? { slot } : { slot, session: "refused" });
        if (!slot) _refuse(ws.raw as unknown as TunnelSocket, slots.busy().message, 1013);
      },
      message(ws, message) {
        const socket = ws.raw as unknown as TunnelSocket;
        const connection = connections.get(ws.raw.data);
        if (!connection || connection.session === "refused") return;
        if (connection.session) return connection.session.receive(message);
        try {
          const command = checkRsyncArgv(message, places, rsync);
          connection.session = startRsyncSession(socket, command, { onExit: () => _release(slots, connection) });
          deps.onRsyncSession?.(connection.session);
        } catch (error) {
          connection.session = "refused";
          _release(slots, connection);
          if (!(error instanceof SocError)) deps.onInternalError?.(error);
          _refuse(socket, error instanceof SocError ? error.message : "internal error", 1008);
        }
      },
      drain(ws) {
        const session = connections.get(ws.raw.data)?.session;
        if (typeof session === "object") session.drained();
      },
      close(ws) {
        const connection = connections.get(ws.raw.data);
        if (!connection) return;
        // A running session gives its slot back once its rsync has exited (onExit).
        if (typeof connection.session === "object") connection.session.closed();
        else _release(slots, connection);
      },
    })
    .get(
      "/rsync",
      () => {
        // The tunnel client asks this after a refused upgrade, whose body Bun's WebSocket does not show.
        if (slots.full()) throw slots.busy();
        throw new SocError("upgrade_required", "GET /v1/rsync is rsync's WebSocket tunnel: connect with Upgrade: websocket", { status: 426 });
      },
      { detail: { hide: true } },
    );
}

// ---------------------------------------------------------------------------

function _refuse(socket: TunnelSocket, error: string, code: number): void {
  socket.sendText(JSON.stringify({ error }));
  socket.close(code, code === 1013 ? "busy" : "refused");
}

function _release(slots: TunnelSlots, connection: Connection): void {
  if (!connection.slot) return;
  connection.slot = false;
  slots.release();
}
