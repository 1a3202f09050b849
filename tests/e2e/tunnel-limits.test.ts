import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tunnelUrl } from "../../lib/client/tunnel.ts";
import { CLIENT_OVERRUN_LIMIT, type RsyncSession } from "../../lib/server/tunnel-session.ts";
import { listenApp } from "../_harness/app.ts";
import { cli, runCli } from "../_harness/cli.ts";
import { tempDir, writeFile } from "../_harness/fs.ts";
import { childPids, isAlive, pidsMentioning, waitFor } from "../_harness/proc.ts";
import { beginPush, startServer } from "../_harness/server.ts";
import { pushedTree } from "../_harness/working-trees.ts";

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
  // Resolves once open; rejects with the error's message (a refused upgrade names its status there).
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
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

describe("the cap on rsync sessions", () => {
  test("past --max-rsync-sessions the upgrade gets 503 busy, a push or pull says so (exit 4), and a freed slot is taken again", async () => {
    await using server = await startServer({ token: TOKEN, args: ["--max-rsync-sessions", "1"] });
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { x: "one" }, ["--token", TOKEN]);
    await cli(dir.path, ["clone", server.url, "b", "--token", TOKEN]);
    const b = join(dir.path, "b");
    writeFile(a, "d/x", "two");
    await cli(a, ["push"]);

    const stage = await beginPush(server, TOKEN);
    using held = rawTunnel(server.url);
    await held.opened;
    held.ws.send(JSON.stringify(["rsync", "--server", "-tpIRe.LsfxCIvu", ".", `stage/${stage}/`]));
    await waitFor(() => pidsMentioning(join(server.stateDir, "stage", stage)).length > 0, "the held session's rsync to start");

    using refused = rawTunnel(server.url);
    expect(
      await refused.opened.then(
        () => "opened",
        (e: Error) => e.message,
      ),
    ).toBe(`WebSocket connection to '${tunnelUrl(server.url)}' failed: Expected 101 status code: 503`);
    const busy = "the server is busy: it is running 1 rsync session, its limit; try again later";
    const upgrade = await fetch(`${server.url}/v1/rsync`, {
      headers: {
        authorization: `Bearer ${TOKEN}`,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    expect([upgrade.status, await upgrade.json()]).toEqual([503, { error: { code: "busy", message: busy } }]);
    const pull = await runCli(b, ["pull"]);
    expect([pull.stderr, pull.code]).toEqual([`error: ${busy}\n`, 4]);
    writeFile(a, "d/x", "three");
    const push = await runCli(a, ["push"]);
    expect([push.stderr, push.code]).toEqual([`error: ${busy}\n`, 4]);

    // The end of its input ends the held session's rsync; the server frees its slot, then closes.
    held.ws.send(JSON.stringify({ eof: true }));
    await waitFor(() => held.closed() !== undefined, "the held session to end");
    await cli(a, ["push"]);
    await cli(b, ["pull"]);
    expect(readFileSync(join(b, "d/x"), "utf8")).toBe("three");
  });
});
