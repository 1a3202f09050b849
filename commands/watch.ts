import { defineCommand } from "citty";
import { mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createClient } from "../lib/client/api.ts";
import { clientTokenFromEnv } from "../lib/client/config.ts";
import { createLogger, type Logger } from "../lib/client/log.ts";
import { findRepo, readRepoConfig } from "../lib/client/repo.ts";
import { selfCommand } from "../lib/client/self.ts";
import { getMeta, openState } from "../lib/client/state.ts";
import { trackingOf } from "../lib/client/watched-scan.ts";
import { watchTree, WATCH_TIMING, type WatchDeps, type WatchEvent, type WatchTiming } from "../lib/client/watch.ts";
import { acquireLock } from "../lib/client/lock.ts";
import { quotePath } from "../lib/shared/paths.ts";
import { files, linksSkippedWarning, printJson } from "./_report.ts";
import { flags, withSession } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "watch",
    description:
      "Keep this tree in sync as you work: push after 2 s of quiet, pull as soon as the server has a new revision; Ctrl-C stops (example: soc watch)",
  },
  args: {
    "on-conflict": {
      type: "enum",
      options: ["keep-both", "stop"],
      description:
        "A file changed here and on the server: keep both (yours beside it as NAME.conflict-HOST-TIME.EXT; the default), or stop: leave it alone",
    },
    install: { type: "boolean", description: "Write a systemd user unit that runs `soc watch` for this tree, and print how to start it" },
    ...flags.quiet,
    json: { type: "boolean", description: "Print one JSON object per line for each cycle, instead of text" },
  },
  run: async ({ args }) => {
    const layout = findRepo(process.cwd());
    const log = createLogger({ quiet: args.quiet });
    if (args.install) return _install(layout.top, log);
    const { remote } = readRepoConfig(layout);
    using _one = await _onlyDaemon(layout.dir);
    const stop = new AbortController();
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => stop.abort());
    using state = openState(layout.dbFile);
    await watchTree({
      layout,
      ...(remote ? { remote: createClient(remote.url, clientTokenFromEnv(process.env) ?? remote.token) } : {}),
      session: (verb, body) => withSession({ quiet: true, record: verb }, body),
      knownRevision: () => Number(getMeta(state, "revision") ?? "0"),
      tracking: () => trackingOf(layout, state),
      onConflict: args["on-conflict"] === "stop" ? "stop" : "keep-both",
      report: (event) => (args.json ? printJson(event) : _print(event, log)),
      signal: stop.signal,
      ..._testSeams(process.env),
    });
  },
});

// ---------------------------------------------------------------------------

/** One line per event: successes on stdout (not with --quiet), problems on stderr. */
function _print(e: WatchEvent, log: Logger): void {
  switch (e.event) {
    case "watching":
      if (!e.syncing) return log.info(`watching ${e.top} for soc status (no remote: nothing is pushed or pulled); Ctrl-C stops`);
      return log.info(
        `watching ${e.top}${e.degraded ? " by scanning (see above)" : ""}: pushes after ${WATCH_TIMING.quietMs / 1000} s of quiet, pulls as the server announces; Ctrl-C stops`,
      );
    case "push": {
      const held = e.held.length ? ` (${e.held.length} more left for the next push: still being written, or just deleted)` : "";
      return log.info(`pushed ${files(e.transferred.length)}, deleted ${e.deleted.length}: revision ${e.revision}${held}`);
    }
    case "pull":
      log.info(`pulled revision ${e.revision}: ${files(e.transferred.length)} updated, ${e.deleted.length} deleted`);
      for (const p of e.keptBoth) log.warn(`kept your version as ${quotePath(p)}`);
      if (e.linksSkipped.length) log.warn(linksSkippedWarning(e.linksSkipped));
      return;
    case "conflict":
      if (e.action === "kept-both") return log.warn(`conflict: ${quotePath(e.path)} changed here and on the server; both are kept`);
      return log.error(`conflict: ${quotePath(e.path)} changed here and on the server; yours is left alone and not synced until you resolve it`);
    case "paused":
      return log.error(`pushing paused: ${e.reason}`);
    case "degraded":
      return log.warn(e.reason);
    case "error":
      return log.error(`${e.message}; trying again in ${Math.ceil(e.retryInMs / 1000)} s`);
    case "stopped":
      return log.info("stopped");
  }
}

/** Tests only: SOC_TEST_WATCH_TIMING (JSON) shortens the daemon's intervals. */
function _testSeams(env: NodeJS.ProcessEnv): Partial<Pick<WatchDeps, "timing">> {
  return env.SOC_TEST_WATCH_TIMING ? { timing: JSON.parse(env.SOC_TEST_WATCH_TIMING) as Partial<WatchTiming> } : {};
}

/** Holds `.soc/watch.lock` while this daemon runs: one daemon per tree. */
function _onlyDaemon(dir: string): Promise<Disposable> {
  return acquireLock(join(dir, "watch.lock"), 0, undefined, (who) => `soc watch already runs for this tree: ${who}`);
}

/** Writes ~/.config/systemd/user/soc-watch-<id>.service for the tree at `top`. */
function _install(top: string, log: Logger): void {
  const name = `soc-watch-${new Bun.CryptoHasher("md5").update(top).digest("hex").slice(0, 12)}.service`;
  const dir = join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "systemd", "user");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, watchUnit(top, selfCommand()));
  log.info(`wrote ${file}\nstart it now and at every login: systemctl --user daemon-reload && systemctl --user enable --now ${name}`);
}

/** The systemd user unit that runs `soc watch --quiet` in `top` with `command` (selfCommand), restarting it when it fails. */
export function watchUnit(top: string, command: readonly string[]): string {
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, "\\$1").replace(/%/g, "%%")}"`);
  return [
    "[Unit]",
    `Description=soc watch ${top.replace(/%/g, "%%")}`,
    "",
    "[Service]",
    `WorkingDirectory=${top.replace(/%/g, "%%")}`, // taken literally, spaces and all; only % is special
    `ExecStart=${[...command, "watch", "--quiet"].map(quote).join(" ")}`,
    "Restart=on-failure",
    "RestartSec=10",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}
