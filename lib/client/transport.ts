import { UsageError } from "../shared/errors.ts";
import { join } from "node:path";
import type { Info, PushBegin, ViewBegin } from "../shared/protocol.ts";
import type { RemoteClient } from "./api.ts";
import { httpTransport, setModeAndTime } from "./http-transport.ts";
import { runRsync } from "./rsync.ts";
import { VIEW_MAX_PATHS } from "../shared/wire.ts";
import { inBatches } from "../shared/batches.ts";
import { tunnelCommand, tunnelUrl } from "./tunnel.ts";

/** The ways soc moves bytes; the first is the default for an http(s) remote, http the one without rsync. */
export const TRANSPORTS = ["tunnel", "ssh", "local", "http"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/** Where a working tree's remote is and how bytes reach it (`.soc/config.json`). */
export interface RemoteSettings {
  url: string;
  transport: TransportName;
  /** For ssh: `[user@]host[:/path/to/store]` (the path defaults to the store the server reports). */
  ssh?: string;
  /** The rsync program chosen with `--rsync` (findRsync: SOC_RSYNC still overrides it). */
  rsync?: string;
}

/** Called with the bytes a transfer has moved so far (rsync's reports carry more). */
export type OnProgress = (p: { bytes: number }) => void;

/** A file a transport moves: its path, and the content, mode and mtime the table gives it. */
export interface TransferFile {
  path: string;
  size: number;
  md5: string;
  /** Absent in a push from a filesystem that keeps no Unix modes. */
  mode?: number;
  mtimeNs: string;
}

/** How file content moves between a working tree and the server's store. */
export interface Transport {
  /** Copies `files` from the tree at `top` into the push's staging area (in one rsync run, or by http). */
  upload(top: string, files: readonly TransferFile[], stage: PushBegin, compare: "always" | "checksum", onProgress?: OnProgress): Promise<void>;
  /** Copies `files` from the store into `dest` (a local directory). */
  download(files: readonly TransferFile[], dest: string, onProgress?: OnProgress): Promise<void>;
}

/**
 * The transport `remote` names, for a server that described itself with `info`.
 * local: the store is on this filesystem, rsync copies directly (the server's paths).
 * ssh: rsync over ssh with the user's own keys, ~/.ssh/config and RSYNC_RSH honoured.
 * tunnel: rsync over the server's authenticated WebSocket; the token travels in the environment.
 * http: no rsync, the API alone (http-transport.ts).
 * On a server with a cache (Info.views), rsync reads a view and reuses a basis the server makes per session.
 */
export function createTransport(remote: RemoteSettings, info: Info, token: string | undefined, client: RemoteClient): Transport {
  const { rsync } = remote;
  if (remote.transport === "http") return httpTransport(client);
  // A server with a cache has no tree to read: a download reads views made for it, an upload reuses a basis made for its stage.
  const views = info.views === true;
  const basisOf = (stage: PushBegin, files: readonly TransferFile[], store = info.store) =>
    views ? client.pushBasis(stage.stage, _paths(files)) : Promise.resolve(store);
  const download =
    (src: (view?: ViewBegin) => string, tunnel?: { rsh: string[]; env: Record<string, string | undefined> }): Transport["download"] =>
    async (files, dest, onProgress) => {
      const run = (from: string, part: readonly TransferFile[], before: number) =>
        runRsync(
          { src: from, dest, files: _paths(part), compare: "always", ...(tunnel ? { rsh: tunnel.rsh } : {}) },
          { rsync, env: tunnel?.env, ...(onProgress ? { onProgress: (p: { bytes: number }) => onProgress({ bytes: before + p.bytes }) } : {}) },
        );
      if (!views) return run(src(), files, 0);
      // One view at a time, each a bounded part of the files: the node's disk holds one part beyond its cache, not the whole download.
      let before = 0;
      for (const part of viewParts(files)) {
        const view = await client.openView(_paths(part));
        try {
          await run(src(view), part, before);
        } finally {
          await client.endView(view.view);
        }
        before += part.reduce((sum, f) => sum + f.size, 0);
      }
      // A view's files are links to the server's cache: the mode and mtime are the rows'.
      for (const f of files) setModeAndTime(join(dest, ...f.path.split("/")), f);
    };
  if (remote.transport === "local") {
    return {
      upload: async (top, files, stage, compare, onProgress) =>
        runRsync({ src: top, dest: stage.stagePath, files: _paths(files), basis: await basisOf(stage, files), compare }, { rsync, onProgress }),
      // No --copy-dest from the tree: on one filesystem rsync copies whole files anyway.
      download: download((view) => view?.viewPath ?? info.store),
    };
  }
  if (remote.transport === "ssh") {
    const { host, path } = parseSshTarget(remote.ssh ?? "");
    const store = path ?? info.store;
    return {
      upload: async (top, files, stage, compare, onProgress) =>
        runRsync(
          { src: top, dest: `${host}:${stage.stagePath}`, files: _paths(files), basis: await basisOf(stage, files, store), compare },
          { rsync, onProgress },
        ),
      download: download((view) => `${host}:${view?.viewPath ?? store}`),
    };
  }
  const tunnel = { rsh: tunnelCommand(), env: { SOC_TUNNEL_URL: tunnelUrl(remote.url), SOC_TOKEN: token } };
  return {
    // The server confines this rsync to the stage and adds --copy-dest at the store (or the stage's basis) itself.
    upload: async (top, files, stage, compare, onProgress) => {
      await basisOf(stage, files);
      await runRsync(
        { src: top, dest: `soc:stage/${stage.stage}`, files: _paths(files), compare, rsh: tunnel.rsh },
        { rsync, env: tunnel.env, onProgress },
      );
    },
    download: download((view) => (view ? `soc:view/${view.view}` : "soc:store"), tunnel),
  };
}

/** Splits `[user@]host[:/abs/path]`; throws UsageError naming the expected form. */
export function parseSshTarget(target: string): { host: string; path?: string } {
  const m = /^([^\s:/]+)(?::(\/.*))?$/.exec(target);
  if (!m) throw new UsageError(`--ssh ${JSON.stringify(target)}: expected [user@]host or [user@]host:/absolute/path/to/store`);
  return m[2] ? { host: m[1] as string, path: m[2] } : { host: m[1] as string };
}

/** Most bytes of content one view of a download holds (a file bigger than that has a view of its own). */
export const VIEW_MAX_BYTES = 1024 ** 3;

/** `files` in the parts a download makes one view for each: at most VIEW_MAX_PATHS files and VIEW_MAX_BYTES of content (or one bigger file). */
export function viewParts(files: readonly TransferFile[]): TransferFile[][] {
  return inBatches(files, VIEW_MAX_PATHS, VIEW_MAX_BYTES, (f) => f.size);
}

// ---------------------------------------------------------------------------

function _paths(files: readonly TransferFile[]): string[] {
  return files.map((f) => f.path);
}
