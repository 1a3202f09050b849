import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./fs.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

/** One transport under test: how `soc init`/`clone` select it, and what it needs running. */
export interface TransportUnderTest {
  name: "local" | "tunnel" | "ssh" | "http";
  /** Flags for `soc init URL` and `soc clone URL DIR`. */
  initArgs(): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Defines the suite in `body` once per transport (of those in `only`, when given). ssh gets a
 * throwaway sshd on 127.0.0.1 and RSYNC_RSH pointing at it; http runs with a PATH that holds bun
 * and no rsync (both set in this process's environment, which the CLI runs inherit).
 */
export function overEveryTransport(define: (t: TransportUnderTest) => void, only?: readonly TransportUnderTest["name"][]): void {
  const body = (t: TransportUnderTest) => {
    if (only === undefined || only.includes(t.name)) define(t);
  };
  body({ name: "local", initArgs: () => ["--transport", "local"], start: async () => {}, stop: async () => {} });
  body({ name: "tunnel", initArgs: () => ["--transport", "tunnel"], start: async () => {}, stop: async () => {} });
  let sshd: TestSshd | undefined;
  body({
    name: "ssh",
    initArgs: () => ["--ssh", sshd?.host ?? "sshd-not-started"],
    start: async () => {
      sshd = await startSshd();
      process.env.RSYNC_RSH = sshd.rsyncRsh;
    },
    stop: async () => {
      delete process.env.RSYNC_RSH;
      await sshd?.[Symbol.asyncDispose]();
    },
  });
  let noRsync: { path: string } & Disposable;
  let path: string | undefined;
  body({
    name: "http",
    initArgs: () => ["--transport", "http"],
    start: async () => {
      noRsync = tempDir("soc-no-rsync-");
      symlinkSync(process.execPath, join(noRsync.path, "bun"));
      path = process.env.PATH;
      process.env.PATH = noRsync.path;
    },
    stop: async () => {
      process.env.PATH = path;
      noRsync?.[Symbol.dispose]();
    },
  });
}
