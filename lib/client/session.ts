import type { Database } from "bun:sqlite";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { createClient, type RemoteClient } from "./api.ts";
import { EXIT, SocError, UsageError } from "../shared/errors.ts";
import type { Info } from "../shared/protocol.ts";
import type { Logger } from "./log.ts";
import { readRepoConfig, type RepoLayout } from "./repo.ts";
import { getMeta, knownRevision, reattachState, SERVER_DATABASE, setMeta } from "./state.ts";
import { findRsync } from "./rsync-program.ts";
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
 * stored one. Throws UsageError when no remote was recorded, RemoteError when unreachable, and
 * SocError "server_changed" (exit 4) when the server is not the one the tree last synced with:
 * another database id, or a head behind the tree's revision (a server reset or restored from an
 * old backup). `reattach` makes the tree start over with this server instead (reattachState).
 */
export async function openSession(
  layout: RepoLayout,
  db: Database,
  log: Logger,
  token: string | undefined,
  opts: { reattach?: boolean } = {},
): Promise<SyncSession> {
  const { remote } = readRepoConfig(layout);
  if (!remote) throw new UsageError("no remote recorded for this working tree; run `soc init URL` first");
  const bearer = token ?? remote.token;
  const client = createClient(remote.url, bearer);
  const info = await client.info();
  if (opts.reattach) reattachState(db, info.database);
  else _checkSameServer(remote.url, info, db);
  const transport = createTransport(remote, info, bearer, client);
  return { layout, db, log, remote: client, transport, client: `${hostname()}:${layout.top}`, serverRevision: info.revision };
}

/**
 * Checks a remote before `init` or `clone` records it: an http(s) URL, consistent transport
 * flags, and a server that answers, accepts `token` and offers the transport. Throws UsageError
 * naming the problem, or RemoteError (exit 4) when the server is unreachable or refuses the token.
 */
export async function checkRemote(url: string, opts: { token?: string; transport?: string; ssh?: string; rsync?: string }): Promise<RemoteSettings> {
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`${url}: not an http:// or https:// URL`);
  const rsync = opts.rsync?.includes("/") ? resolve(opts.rsync) : opts.rsync;
  if (rsync) findRsync({ PATH: process.env.PATH }, rsync); // refused now by name, not at the first push
  // Without a usable rsync (Windows, a bare container), the bytes go over the API itself.
  const transport = (opts.ssh ? "ssh" : (opts.transport ?? (findRsync(process.env, rsync) ? "tunnel" : "http"))) as TransportName;
  if (transport === "ssh" && !opts.ssh) throw new UsageError("--transport ssh needs --ssh [user@]host[:/path/to/store]");
  if (opts.ssh && opts.transport && opts.transport !== "ssh") throw new UsageError(`--ssh and --transport ${opts.transport} contradict each other`);
  if (opts.ssh) parseSshTarget(opts.ssh);
  const info = await createClient(url, opts.token).info();
  if (!info.transports.includes(transport)) {
    throw new UsageError(`the server at ${url} does not offer the ${transport} transport (it offers: ${info.transports.join(", ")})`);
  }
  return { url, transport, ...(opts.ssh ? { ssh: opts.ssh } : {}), ...(rsync ? { rsync } : {}) };
}

// ---------------------------------------------------------------------------

/** Records the server's database id on first contact; throws when the server is another one now. */
function _checkSameServer(url: string, info: Info, db: Database): void {
  const known = getMeta(db, SERVER_DATABASE);
  const synced = knownRevision(db);
  const why =
    known !== undefined && known !== info.database
      ? `its database is another one (id ${info.database}; this tree synced with ${known})`
      : info.revision < synced
        ? `it is at revision ${info.revision}, behind the ${synced} this tree last synced with (restored from an older backup?)`
        : undefined;
  if (why) {
    throw new SocError(
      "server_changed",
      `the server at ${url} is not the one this tree last synced with: ${why}. Nothing was sent. To sync with it as it is now, ` +
        "run `soc pull --reattach`: a file that differs from the server's is kept beside it as a conflict copy, nothing is overwritten or deleted",
      { exitCode: EXIT.unreachable },
    );
  }
  if (known === undefined) setMeta(db, SERVER_DATABASE, info.database);
}
