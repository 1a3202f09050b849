import { TUNNEL_MAX_FRAME, TUNNEL_WINDOW } from "../shared/wire.ts";
import type { RsyncServerCommand } from "./tunnel-argv.ts";

/** The part of Bun's ServerWebSocket a session uses. */
export interface TunnelSocket {
  /** -1 queued behind backpressure, 0 dropped, >0 sent. */
  sendBinary(data: Uint8Array): number;
  sendText(data: string): number;
  getBufferedAmount(): number;
  close(code?: number, reason?: string): void;
}

/** Bytes a session holds in memory for each direction: now, and the most it has held so far. */
export interface TunnelQueues {
  /** Received from the client, not yet written into rsync's stdin. */
  toRsync: number;
  mostToRsync: number;
  /** Sent to the socket, not yet out to the client (its buffered amount). */
  toClient: number;
  mostToClient: number;
}

/** One running `rsync --server` wired to a WebSocket. */
export interface RsyncSession {
  /** A client frame after the argv: bytes for rsync's stdin, or `{"ack":N}` / `{"eof":true}`. */
  receive(message: unknown): void;
  /** The socket's send buffer drained. */
  drained(): void;
  /** The client is gone: rsync gets SIGTERM (SIGKILL 2 s later if it lingers). */
  closed(): void;
  /** What the session holds in memory (read-only; for tests and diagnostics). */
  queues(): TunnelQueues;
}

/** Bytes queued on the socket before the session stops reading rsync's stdout and stderr. */
export const SEND_HIGH_WATER = 1024 * 1024;
/** The server acknowledges every this many bytes it has handed to rsync's stdin (the client's send window). */
export const SERVER_ACK_EVERY = 1024 * 1024;
/**
 * Bytes a client may send beyond the server's last ack: its window, plus the one frame it may send
 * before checking it. Past this the client is closed, so at most this much waits for rsync's stdin.
 */
export const CLIENT_OVERRUN_LIMIT = TUNNEL_WINDOW + TUNNEL_MAX_FRAME;

/**
 * Spawns `cmd.argv` (with an empty environment: the server's token stays out of it) and pumps
 * bytes both ways with backpressure; sends rsync's stderr as `{"stderr":…}` and finally
 * `{"exit":N}`, then closes the socket. A client that sends past its window gets `{"error":…}`
 * and a close (1008). `onExit` runs once rsync has exited, before that final close.
 */
export function startRsyncSession(socket: TunnelSocket, cmd: RsyncServerCommand, opts: { onExit?: () => void } = {}): RsyncSession {
  const proc = Bun.spawn(cmd.argv, { cwd: cmd.dir, env: {}, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let gone = false;
  let acked = 0;
  let sent = 0;
  let arrived = 0;
  let written = 0;
  let ackedIn = 0;
  let mostToRsync = 0;
  let mostToClient = 0;
  let input = Promise.resolve();
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((resolve) => resolve());
  const waitForRoom = () => new Promise<void>((resolve) => waiters.push(resolve));
  /** Records the socket's buffered amount after a send (for queues()); returns the send's result. */
  const noted = (result: number): number => {
    mostToClient = Math.max(mostToClient, socket.getBufferedAmount());
    return result;
  };
  const pumpOut = (async () => {
    for await (const chunk of proc.stdout) {
      while (!gone && (socket.getBufferedAmount() > SEND_HIGH_WATER || sent - acked > TUNNEL_WINDOW)) await waitForRoom();
      if (gone) return;
      // 0 = dropped past Bun's backpressureLimit: the stream is corrupt, so end the session.
      if (noted(socket.sendBinary(chunk)) === 0) return _kill(proc, "SIGTERM");
      sent += chunk.byteLength;
    }
  })();
  const pumpErr = (async () => {
    for await (const text of proc.stderr.pipeThrough(new TextDecoderStream())) {
      while (!gone && socket.getBufferedAmount() > SEND_HIGH_WATER) await waitForRoom();
      if (!gone) noted(socket.sendText(JSON.stringify({ stderr: text })));
    }
  })();
  void Promise.allSettled([pumpOut, pumpErr])
    .then(() => proc.exited)
    .then((code) => {
      opts.onExit?.();
      if (gone) return;
      socket.sendText(JSON.stringify({ exit: code }));
      socket.close(1000, "rsync exited");
    });
  return {
    receive(message) {
      if (gone) return;
      if (message instanceof Uint8Array) return _accept(message);
      const control = typeof message === "object" && message !== null ? (message as { ack?: unknown; eof?: unknown }) : {};
      if (typeof control.ack === "number") {
        acked = Math.max(acked, control.ack);
        wake();
      }
      if (control.eof === true)
        input = input
          .then(() => proc.stdin.end())
          .then(() => {})
          .catch(() => {});
    },
    drained: () => wake(),
    closed: _end,
    queues: () => ({ toRsync: arrived - written, mostToRsync, toClient: socket.getBufferedAmount(), mostToClient }),
  };

  /** Queues bytes for rsync's stdin, or closes a client that sent them past its window. */
  function _accept(bytes: Uint8Array): void {
    arrived += bytes.byteLength;
    const unacked = arrived - ackedIn;
    if (unacked > CLIENT_OVERRUN_LIMIT) {
      arrived -= bytes.byteLength;
      const error = `the client sent ${unacked} bytes beyond the server's last acknowledgement, more than the tunnel allows (${CLIENT_OVERRUN_LIMIT}); closing`;
      socket.sendText(JSON.stringify({ error }));
      socket.close(1008, `window overrun: ${unacked} bytes unacknowledged, limit ${CLIENT_OVERRUN_LIMIT}`);
      return _end();
    }
    mostToRsync = Math.max(mostToRsync, arrived - written);
    _write(bytes);
  }

  /**
   * Hands bytes to rsync's stdin in order and acknowledges them once flushed into the pipe. The
   * socket is never paused: pausing would also hold back the client's acks, and with rsync's
   * stdout waiting on those acks and its stdin full, both ends would wait forever. The client
   * keeps at most a window of unacknowledged bytes in flight, and _accept holds it to that, which
   * bounds this queue instead.
   */
  function _write(bytes: Uint8Array): void {
    input = input
      .then(async () => {
        if (gone) return;
        proc.stdin.write(bytes);
        await proc.stdin.flush();
        written += bytes.byteLength;
        if (written - ackedIn >= SERVER_ACK_EVERY) noted(socket.sendText(JSON.stringify({ ack: (ackedIn = written) })));
      })
      .catch(() => {});
  }

  /** The session is over for the client (it left, or was closed): rsync is stopped. */
  function _end(): void {
    if (gone) return;
    gone = true;
    wake();
    _kill(proc, "SIGTERM");
    setTimeout(() => _kill(proc, "SIGKILL"), 2000).unref();
  }
}

// ---------------------------------------------------------------------------

function _kill(proc: Bun.Subprocess, signal: NodeJS.Signals): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
}
