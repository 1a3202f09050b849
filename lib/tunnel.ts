import { resolve } from "node:path";

/** The argv rsync runs as its remote shell (`-e`) to reach the server through the tunnel. */
export function tunnelCommand(): string[] {
  return [process.execPath, resolve(import.meta.dir, "..", "cli.ts"), "tunnel"];
}

/** The tunnel's WebSocket URL for an http(s) server URL: ws(s)://…/v1/rsync, keeping any path prefix. */
export function tunnelUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, "ws").replace(/\/+$/, "")}/v1/rsync`;
}
