import { SocError } from "./errors.ts";
import type { Info, PushBegin } from "./protocol.ts";
import { runRsync } from "./rsync.ts";

/** The names soc knows for ways of moving bytes; only `local` exists so far. */
export const TRANSPORTS = ["local"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/** How file content moves between a working tree and the server's store. */
export interface Transport {
  /** Copies `files` from the tree at `top` into the push's staging area, in one run. */
  upload(top: string, files: readonly string[], stage: PushBegin, compare: "always" | "checksum"): Promise<void>;
  /** Copies `files` from the store into `dest`; remote transports may reuse blocks found under `basis`. */
  download(files: readonly string[], dest: string, basis: string): Promise<void>;
}

/**
 * The transport named `name` for a server that described itself with `info`.
 * local: the store is on this machine's filesystem, rsync copies directly.
 */
export function createTransport(name: TransportName, info: Info): Transport {
  if (name !== "local") throw new SocError("bad_transport", `unknown transport ${JSON.stringify(name)}; choose one of: ${TRANSPORTS.join(", ")}`);
  return {
    upload: (top, files, stage, compare) => runRsync({ src: top, dest: stage.stagePath, files, basis: info.store, compare }),
    // No --copy-dest from the tree: on one filesystem rsync copies whole files anyway.
    download: (files, dest) => runRsync({ src: info.store, dest, files, compare: "always" }),
  };
}
