import type { Database } from "bun:sqlite";
import { hostname } from "node:os";
import { createClient, type RemoteClient } from "./api.ts";
import { UsageError } from "../shared/errors.ts";
import type { Logger } from "./log.ts";
import { readRepoConfig, type RepoLayout } from "./repo.ts";
import { createTransport, type Transport } from "./transport.ts";

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
