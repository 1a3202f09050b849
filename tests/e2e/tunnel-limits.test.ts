import { describe, expect, test } from "bun:test";
import { tunnelUrl } from "../../lib/client/tunnel.ts";
import { CLIENT_OVERRUN_LIMIT, type RsyncSession } from "../../lib/server/tunnel-session.ts";
import { listenApp } from "../_harness/app.ts";
import { childPids, isAlive, waitFor } from "../_harness/proc.ts";
import { beginPush } from "../_harness/server.ts";

const TOKEN = "tunnel-limits-token";
const MiB = 1024 * 1024;

/** A tunnel opened by hand: the close it got, and every text frame before it. */
function rawTunnel(url: string) {
  const ws = new WebSocket(tunnelUrl(url), { headers: { Authorization: `Bearer ${TOKEN}` } });
  ws.binaryType = "arraybuffer";
  const frames: unknown[] = [];
  let closed: { code: number; reason: string } | undefined;
  ws.onmessage = (e) => typeof e.data === "string" && frames.push(JSON.parse(e.data));
  ws.onclose = (e) => (closed = { code: e.code, reason: e.reason });
  const opened = new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  return { ws, frames, opened, closed: () => closed, [Symbol.dispose]: () => ws.close() };
}

/** The rsync this test process runs as a server's child, SIGKILLed and reaped on dispose however the test ends. */
async function serverRsync() {
  await waitFor(() => childPids(process.pid, "rsync").length === 1, "the server's rsync to start");
  const pid = childPids(process.pid, "rsync")[0] as number;
  return {
    pid,
    [Symbol.asyncDispose]: async () => {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await waitFor(() => !isAlive(pid), "the server's rsync to end");
    },
  };
}

describe("tunnel flow control", () => {
  test("a client that sends past its window is closed with the reason, and the server never holds more than the window for rsync", async () => {
    const sessions: RsyncSession[] = [];
    await using server = await listenApp({ token: TOKEN, onRsyncSession: (s) => sessions.push(s) });
    const stage = await beginPush(server, TOKEN);
    using tunnel = rawTunnel(server.url);
    await tunnel.opened;
    tunnel.ws.send(JSON.stringify(["rsync", "--server", "-tpIRe.LsfxCIvu", ".", `stage/${stage}/`]));
    await using rsync = await serverRsync();
    const session = sessions[0] as RsyncSession;
    // A stopped rsync reads nothing (a slow disk, at the limit): what the client sends piles up on the server.
    process.kill(rsync.pid, "SIGSTOP");
    for (let i = 0; i < 32; i++) tunnel.ws.send(new Uint8Array(MiB));
    await waitFor(() => tunnel.closed() !== undefined || session.queues().toRsync > CLIENT_OVERRUN_LIMIT, "the close, or the queue past its bound");
    expect(tunnel.closed()).toEqual({ code: 1008, reason: `window overrun: ${10 * MiB} bytes unacknowledged, limit ${CLIENT_OVERRUN_LIMIT}` });
    expect(tunnel.frames).toEqual([
      {
        error: `the client sent ${10 * MiB} bytes beyond the server's last acknowledgement, more than the tunnel allows (${CLIENT_OVERRUN_LIMIT}); closing`,
      },
    ]);
    expect(session.queues().mostToRsync).toBeLessThanOrEqual(CLIENT_OVERRUN_LIMIT);
  });
});
