import type { RsyncServerCommand } from "./tunnel-argv.ts";

/** The part of Bun's ServerWebSocket a session uses. */
export interface TunnelSocket {
  /** -1 queued behind backpressure, 0 dropped, >0 sent. */
  sendBinary(data: Uint8Array): number;
  sendText(data: string): number;
  getBufferedAmount(): number;
  close(code?: number, reason?: string): void;
}

/** One running `rsync --server` wired to a WebSocket. */
export interface RsyncSession {
  /** A client frame after the argv: bytes for rsync's stdin, or `{"ack":N}` / `{"eof":true}`. */
  receive(message: unknown): void;
  /** The socket's send buffer drained. */
  drained(): void;
  /** The client is gone: rsync gets SIGTERM (SIGKILL 2 s later if it lingers). */
  closed(): void;
}

/** Bytes queued on the socket before the session stops reading rsync's stdout. */
export const SEND_HIGH_WATER = 1024 * 1024;
/** Bytes sent but not yet acknowledged (`{"ack":N}`, written by the client) before sending stops. */
export const ACK_WINDOW = 8 * 1024 * 1024;
/** The server acknowledges every this many bytes it has handed to rsync's stdin (the client's send window). */
export const SERVER_ACK_EVERY = 1024 * 1024;

/**
 * Spawns `cmd.argv` (with an empty environment: the server's token stays out of it) and pumps
 * bytes both ways with backpressure; sends rsync's stderr as `{"stderr":…}` and finally
 * `{"exit":N}`, then closes the socket.
 */
export function startRsyncSession(socket: TunnelSocket, cmd: RsyncServerCommand): RsyncSession {
  const proc = Bun.spawn(cmd.argv, { cwd: cmd.dir, env: {}, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let gone = false;
  let acked = 0;
  let sent = 0;
  let received = 0;
  let ackedIn = 0;
  let input = Promise.resolve();
  let wake: () => void = () => {};
  const waitForRoom = () => new Promise<void>((resolve) => (wake = resolve));
  const pumpOut = (async () => {
    for await (const chunk of proc.stdout) {
      while (!gone && (socket.getBufferedAmount() > SEND_HIGH_WATER || sent - acked > ACK_WINDOW)) await waitForRoom();
      if (gone) return;
      // 0 = dropped past Bun's backpressureLimit: the stream is corrupt, so end the session.
      if (socket.sendBinary(chunk) === 0) return _kill(proc, "SIGTERM");
      sent += chunk.byteLength;
    }
  })();
  const pumpErr = (async () => {
    for await (const text of proc.stderr.pipeThrough(new TextDecoderStream())) if (!gone) socket.sendText(JSON.stringify({ stderr: text }));
  })();
  void Promise.all([pumpOut, pumpErr, proc.exited]).then(([, , code]) => {
    if (gone) return;
    socket.sendText(JSON.stringify({ exit: code }));
    socket.close(1000, "rsync exited");
  });
  return {
    receive(message) {
      if (gone) return;
      if (message instanceof Uint8Array) return _write(message);
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
    closed() {
      gone = true;
      wake();
      _kill(proc, "SIGTERM");
      setTimeout(() => _kill(proc, "SIGKILL"), 2000).unref();
    },
  };

  /**
   * Hands bytes to rsync's stdin in order and acknowledges them once flushed into the pipe. The
   * socket is never paused: pausing would also hold back the client's acks, and with rsync's
   * stdout waiting on those acks and its stdin full, both ends would wait forever. The client
   * keeps at most a window of unacknowledged bytes in flight, which bounds this queue instead.
   */
  function _write(bytes: Uint8Array): void {
    input = input
      .then(async () => {
        if (gone) return;
        proc.stdin.write(bytes);
        await proc.stdin.flush();
        received += bytes.byteLength;
        if (received - ackedIn >= SERVER_ACK_EVERY) socket.sendText(JSON.stringify({ ack: (ackedIn = received) }));
      })
      .catch(() => {});
  }
}

// ---------------------------------------------------------------------------

function _kill(proc: Bun.Subprocess, signal: NodeJS.Signals): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
}
