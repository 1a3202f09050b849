import { UsageError } from "../shared/errors.ts";
import { TUNNEL_MAX_FRAME, TUNNEL_WINDOW } from "../shared/wire.ts";
import { selfCommand } from "./self.ts";

/** What one tunnel run needs; the CLI passes the process's own streams. */
export interface TunnelOptions {
  /** ws(s)://…/v1/rsync */
  url: string;
  token: string | undefined;
  /** What rsync runs on the "remote" side: `rsync --server …` (the host argument already dropped). */
  command: readonly string[];
  stdin: ReadableStream<Uint8Array>;
  /** rsync's end of the pipe; `write`'s callback means the bytes were handed on. */
  stdout: { write(chunk: Uint8Array, done: (error?: Error | null) => void): unknown };
  stderr: { write(text: string): unknown };
}

/** Bytes the socket may hold unsent before the tunnel stops reading stdin. */
export const TUNNEL_HIGH_WATER = 1024 * 1024;
/** How long the tunnel waits for the server's reason after a 503 before printing a generic one. */
const BUSY_REASON_TIMEOUT_MS = 10_000;
/** The tunnel acknowledges every this many bytes written to stdout (the server's send window). */
export const ACK_EVERY = 1024 * 1024;

/**
 * The argv rsync runs as its remote shell (`-e`) to reach the server through the tunnel; rsync
 * appends `HOST rsync --server …`, which the `--` keeps away from soc's option parsing.
 */
export function tunnelCommand(): string[] {
  return [...selfCommand(), "tunnel", "--"];
}

/** The tunnel's WebSocket URL for an http(s) server URL: ws(s)://…/v1/rsync, keeping any path prefix. */
export function tunnelUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`not an http(s) URL: ${httpUrl}`);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/rsync`;
  url.search = url.hash = "";
  return url.toString();
}

/**
 * Carries one rsync session over the server's WebSocket: sends `command` as the first frame,
 * then pipes stdin and stdout both ways with backpressure. Resolves to the server rsync's exit
 * status, or 255 after printing `soc tunnel: <reason>` when the server refused or the link broke.
 */
export function runTunnel(opts: TunnelOptions): Promise<number> {
  return new Promise((done) => {
    const headers: Record<string, string> = opts.token ? { Authorization: `Bearer ${opts.token}` } : {};
    const ws = new WebSocket(opts.url, { headers });
    ws.binaryType = "arraybuffer";
    let finished = false;
    let written = 0;
    let acked = 0;
    let failure: Promise<string> | undefined;
    let exit: number | undefined;
    const inFlight = { sent: 0, acked: 0 };
    let output = Promise.resolve();
    const finish = (code: number, reason?: string) => {
      if (finished) return;
      finished = true;
      if (reason) opts.stderr.write(`soc tunnel: ${reason}\n`);
      ws.close();
      done(code);
    };
    ws.onopen = () => {
      ws.send(JSON.stringify(opts.command));
      void _pump(opts.stdin, ws, inFlight, () => finished).catch((error: Error) => finish(255, `reading stdin: ${error.message}`));
    };
    ws.onmessage = ({ data }: MessageEvent) => {
      if (typeof data !== "string") {
        const bytes = new Uint8Array(data as ArrayBuffer);
        output = output
          .then(() => _write(opts.stdout, bytes))
          .then(() => {
            written += bytes.byteLength;
            // The server sends at most its window beyond the last ack, so a stalled rsync stalls it too.
            if (written - acked >= ACK_EVERY && !finished) ws.send(JSON.stringify({ ack: (acked = written) }));
          })
          .catch((error: Error) => finish(255, `writing to rsync: ${error.message}`));
        return;
      }
      const frame = _parse(data);
      if (typeof frame.ack === "number") inFlight.acked = Math.max(inFlight.acked, frame.ack);
      if (typeof frame.stderr === "string") opts.stderr.write(frame.stderr);
      if (typeof frame.error === "string") finish(255, frame.error);
      if (typeof frame.exit === "number" && exit === undefined) {
        exit = frame.exit;
        void output.then(() => finish(frame.exit as number));
      }
    };
    ws.onerror = (event) => (failure = _describe(event, opts.url, headers));
    ws.onclose = (event) => {
      if (exit !== undefined) return;
      const broken = `connection to ${opts.url} closed before rsync finished (code ${event.code})`;
      void (failure ?? Promise.resolve(broken)).then((reason) => finish(255, reason));
    };
  });
}

// ---------------------------------------------------------------------------

async function _pump(
  stdin: ReadableStream<Uint8Array>,
  ws: WebSocket,
  inFlight: { sent: number; acked: number },
  stopped: () => boolean,
): Promise<void> {
  for await (const chunk of stdin) {
    // Frames of at most TUNNEL_MAX_FRAME: the server closes a client further past its window.
    for (let at = 0; at < chunk.byteLength; at += TUNNEL_MAX_FRAME) {
      if (stopped()) return;
      const frame = chunk.subarray(at, at + TUNNEL_MAX_FRAME);
      ws.send(frame);
      inFlight.sent += frame.byteLength;
      // Bun's client WebSocket has no drain event: poll until the socket has room again, and
      // until the server has handed enough to rsync (its acks) to stay within the window.
      while ((ws.bufferedAmount > TUNNEL_HIGH_WATER || inFlight.sent - inFlight.acked > TUNNEL_WINDOW) && !stopped()) await Bun.sleep(1);
    }
  }
  // Like ssh: rsync closing our stdin closes the server rsync's stdin.
  if (!stopped()) ws.send(JSON.stringify({ eof: true }));
}

function _write(stdout: TunnelOptions["stdout"], bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => stdout.write(bytes, (error) => (error ? reject(error) : resolve())));
}

function _parse(text: string): { ack?: unknown; stderr?: unknown; error?: unknown; exit?: unknown } {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? value : {};
  } catch {
    return {};
  }
}

/**
 * Why the WebSocket failed. A refused upgrade shows only as a message with the status ("Expected
 * 101 status code: 401"); for 503 the server's own reason (how many sessions it runs) is asked
 * again with a plain GET, whose body can be read.
 */
async function _describe(event: Event, url: string, headers: Record<string, string>): Promise<string> {
  const message = (event as ErrorEvent).message ?? "";
  if (/\b401\b/.test(message)) return "unauthorized: the server refused the token (set SOC_TOKEN to the server's token)";
  if (/\b404\b/.test(message)) return `no rsync tunnel at ${url} (is the server soc with the tunnel transport?)`;
  if (/\b503\b/.test(message)) return (await _busyReason(url, headers)) ?? "the server is busy (HTTP 503); try again later";
  return `cannot reach ${url}${message ? `: ${message}` : ""}`;
}

/**
 * The message of the server's 503 answer to a plain GET of the tunnel's URL (busy at its cap of
 * sessions, or its store behind its table); undefined when it gives none (no longer, unreachable).
 */
async function _busyReason(url: string, headers: Record<string, string>): Promise<string | undefined> {
  try {
    const res = await fetch(url.replace(/^ws/, "http"), { headers, signal: AbortSignal.timeout(BUSY_REASON_TIMEOUT_MS) });
    const body = (await res.json()) as { error?: { message?: unknown } };
    return res.status === 503 && typeof body.error?.message === "string" ? body.error.message : undefined;
  } catch {
    return undefined;
  }
}
