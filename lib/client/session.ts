import type { Database } from "bun:sqlite";
import { hostname } from "node:os";
import { createClient, type RemoteClient } from "./api.ts";
import { UsageError } from "../shared/errors.ts";
import type { Logger } from "./log.ts";
import { readRepoConfig, type RepoLayout } from "./repo.ts";
import { createTransport, parseSshTarget, type RemoteSettings, type Transport, type TransportName } from "./transport.ts";

/** Everything a push or pull needs: the tree, its state, the server and the byte mover. */
export interface SyncSession {
  layout: RepoLayout;
  db: Database;
  log: Logger;
  remote: RemoteClient;
  transport: Transport;
  /** How this tree names itself to the server (shown in the revision log). */
  client: string;
  /** The server's revision when the session opened. */
  serverRevision: number;
}

/**
 * Connects the working tree to its recorded remote: `token` (from SOC_TOKEN) overrides the
 * stored one. Throws UsageError when no remote was recorded, RemoteError when unreachable.
 */
export async function openSession(layout: RepoLayout, db: Database, log: Logger, token: string | undefined): Promise<SyncSession> {
  const { remote } = readRepoConfig(layout);
  if (!remote) throw new UsageError("no remote recorded for this working tree; run `soc init URL` first");
  const bearer = token ?? remote.token;
  const client = createClient(remote.url, bearer);
  const info = await client.info();
  const transport = createTransport(remote, info, bearer);
  return { layout, db, log, remote: client, transport, client: `${hostname()}:${layout.top}`, serverRevision: info.revision };
}

/**
 * Checks a remote before `init` or `clone` records it: an http(s) URL, consistent transport
 * flags, and a server that answers, accepts `token` and offers the transport. Throws UsageError
 * naming the problem, or RemoteError (exit 4) when the server is unreachable or refuses the token.
 */
export async function checkRemote(url: string, opts: { token?: string; transport?: string; ssh?: string }): Promise<RemoteSettings> {
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`${url}: not an http:// or https:// URL`);
  const transport = (opts.ssh ? "ssh" : (opts.transport ?? "tunnel")) as TransportName;
  if (transport === "ssh" && !opts.ssh) throw new UsageError("--transport ssh needs --ssh [user@]host[:/path/to/store]");
  if (opts.ssh && opts.transport && opts.transport !== "ssh") throw new UsageError(`--ssh and --transport ${opts.transport} contradict each other`);
  if (opts.ssh) parseSshTarget(opts.ssh);
  const info = await createClient(url, opts.token).info();
  if (!info.transports.includes(transport)) {
    throw new UsageError(`the server at ${url} does not offer the ${transport} transport (it offers: ${info.transports.join(", ")})`);
  }
  return { url, transport, ...(opts.ssh ? { ssh: opts.ssh } : {}) };
}
