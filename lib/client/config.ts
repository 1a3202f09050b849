import { UsageError } from "../shared/errors.ts";

/** The bearer token a soc client sends: $SOC_TOKEN when set and non-empty. */
export function clientTokenFromEnv(env: Record<string, string | undefined>): string | undefined {
  const token = env.SOC_TOKEN?.trim();
  return token ? token : undefined;
}

/** Whether the CLI may print colour: only to a terminal, and never under NO_COLOR. */
export function colorWanted(env: Record<string, string | undefined>, isTTY: boolean | undefined): boolean {
  return isTTY === true && !env.NO_COLOR;
}

/** What `soc tunnel` (run by rsync, never by hand) reads: $SOC_TUNNEL_URL and $SOC_TOKEN. */
export function tunnelEnv(env: Record<string, string | undefined>): { url: string; token: string | undefined } {
  const url = env.SOC_TUNNEL_URL?.trim();
  if (!url) throw new UsageError("SOC_TUNNEL_URL is not set; `soc tunnel` is run by rsync for the tunnel transport, not by hand");
  if (!/^wss?:\/\//.test(url)) throw new UsageError(`SOC_TUNNEL_URL must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
  return { url, token: clientTokenFromEnv(env) };
}
