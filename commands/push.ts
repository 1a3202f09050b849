import { defineCommand } from "citty";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { createClient } from "../lib/client/api.ts";
import { clientTokenFromEnv } from "../lib/server/config.ts";
import { EXIT, UsageError } from "../lib/shared/errors.ts";
import { createLogger, type Logger } from "../lib/client/log.ts";
import { quotePath } from "../lib/shared/paths.ts";
import { pull, type PullResult } from "../lib/client/pull.ts";
import { push, type PushResult } from "../lib/client/push.ts";
import { createRepoDir, findRepo, readRepoConfig, writeRepoConfig, type RepoLayout } from "../lib/client/repo.ts";
import { openState } from "../lib/client/state.ts";
import { parseSshTarget, type RemoteSettings, type TransportName } from "../lib/client/transport.ts";
import { files, flags, printJson, runSync, syncFlags } from "./_shared.ts";

export const init = defineCommand({
  meta: {
    name: "init",
    description:
      "Start a working tree here (create .soc/), optionally syncing with the server at URL (example: soc init http://droplet:8417 --token T)",
  },
  args: { url: { type: "positional", required: false, description: "The soc server, e.g. http://127.0.0.1:8417" }, ...flags.remote, ...flags.quiet },
  run: async ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const remote = args.url ? await _checkRemote(args.url, args) : undefined;
    const { layout, created } = createRepoDir(process.cwd());
    openState(layout.dbFile).close();
    if (remote) _recordRemote(layout, remote, args.token);
    log.info(`${created ? "Initialized" : "Reinitialized"} soc working tree in ${layout.dir}${args.url ? ` syncing with ${args.url}` : ""}`);
  },
});

export const clone = defineCommand({
  meta: {
    name: "clone",
    description: "Make a new working tree in DIR from the server at URL: init + pull (example: soc clone http://droplet:8417 ~/sync)",
  },
  args: {
    url: { type: "positional", required: true, description: "The soc server, e.g. http://127.0.0.1:8417" },
    dir: { type: "positional", required: true, description: "Where to create the working tree (must be missing or empty)" },
    ...flags.remote,
    ...flags.json,
    ...flags.quiet,
  },
  run: async ({ args }) => {
    const dir = resolve(args.dir);
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`${args.dir}: already exists and is not empty`);
    const remote = await _checkRemote(args.url, args);
    mkdirSync(dir, { recursive: true });
    const { layout } = createRepoDir(dir);
    openState(layout.dbFile).close();
    _recordRemote(layout, remote, args.token);
    process.chdir(dir);
    const result = await runSync("pull", { quiet: args.quiet, json: args.json }, (s, progress) => pull(s, { progress }));
    _reportPull(result, { json: args.json, log: createLogger({ quiet: args.quiet }), verb: `cloned into ${dir}` });
  },
});

export const remote = defineCommand({
  meta: { name: "remote", description: "Show the server this tree syncs with and how bytes reach it (example: soc remote --json)" },
  args: { ...flags.json },
  run: ({ args }) => {
    const layout = findRepo(process.cwd());
    const r = readRepoConfig(layout).remote;
    if (!r) throw new UsageError("no remote recorded for this working tree; run `soc init URL` first");
    const token = clientTokenFromEnv(process.env) ? "from SOC_TOKEN" : r.token ? "stored in .soc/config.json" : "none";
    const shown = { url: r.url, transport: r.transport, ...(r.ssh ? { ssh: r.ssh } : {}), token };
    if (args.json) return printJson(shown);
    process.stdout.write(
      Object.entries(shown)
        .map(([k, v]) => `${`${k}:`.padEnd(11)}${v}\n`)
        .join(""),
    );
  },
});

export const pushCommand = defineCommand({
  meta: {
    name: "push",
    description: "Send your changes to the server; refused (exit 3) for paths changed there since your last pull (example: soc push)",
  },
  args: {
    force: {
      type: "boolean",
      alias: "f",
      description: "Re-send every tracked file (rsync skips equal content) and put damaged store files back: a repair; never overrides a conflict",
    },
    "allow-mass-delete": { type: "boolean", description: "Push even when a tracked directory vanished or over half of the files would be deleted" },
    ...syncFlags,
  },
  run: async ({ args }) => {
    const result = await runSync("push", args, (s, progress) =>
      push(s, { force: args.force, dryRun: args["dry-run"], allowMassDelete: args["allow-mass-delete"], progress }),
    );
    _reportPush(result, { json: args.json, log: createLogger({ quiet: args.quiet }), dryRun: args["dry-run"] === true });
  },
});

export const pullCommand = defineCommand({
  meta: {
    name: "pull",
    description: "Bring in everyone else's changes; never overwrites a local edit (exit 3 lists them) (example: soc pull --quiet)",
  },
  args: {
    "keep-both": { type: "boolean", description: "On a conflict take the server's version and keep yours beside it as NAME.conflict-HOST-TIME.EXT" },
    ...syncFlags,
  },
  run: async ({ args }) => {
    const result = await runSync("pull", args, (s, progress) => pull(s, { keepBoth: args["keep-both"], dryRun: args["dry-run"], progress }));
    _reportPull(result, { json: args.json, log: createLogger({ quiet: args.quiet }), verb: args["dry-run"] ? "would pull" : "pulled" });
  },
});

// ---------------------------------------------------------------------------

/** Checks the URL, the flags and the server (reachable, token accepted, transport offered). */
async function _checkRemote(url: string, args: { token?: string; transport?: string; ssh?: string }): Promise<RemoteSettings> {
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`${url}: not an http:// or https:// URL`);
  const transport = (args.ssh ? "ssh" : (args.transport ?? "tunnel")) as TransportName;
  if (transport === "ssh" && !args.ssh) throw new UsageError("--transport ssh needs --ssh [user@]host[:/path/to/store]");
  if (args.ssh && args.transport && args.transport !== "ssh") throw new UsageError(`--ssh and --transport ${args.transport} contradict each other`);
  if (args.ssh) parseSshTarget(args.ssh);
  const info = await createClient(url, clientTokenFromEnv(process.env) ?? args.token).info();
  if (!info.transports.includes(transport)) {
    throw new UsageError(`the server at ${url} does not offer the ${transport} transport (it offers: ${info.transports.join(", ")})`);
  }
  return { url, transport, ...(args.ssh ? { ssh: args.ssh } : {}) };
}

function _recordRemote(layout: RepoLayout, remote: RemoteSettings, token: string | undefined): void {
  writeRepoConfig(layout, { ...readRepoConfig(layout), remote: { ...remote, ...(token ? { token } : {}) } });
}

function _reportPush(r: PushResult, o: { json?: boolean; log: Logger; dryRun: boolean }): void {
  if (r.conflicts.length) process.exitCode = EXIT.conflict;
  if (o.json) return printJson({ revision: r.revision, transferred: r.transferred, deleted: r.deleted, conflicts: r.conflicts });
  if (r.conflicts.length) {
    o.log.error(
      `push refused: ${files(r.conflicts.length)} changed on the server since your last pull, nothing was changed:\n` +
        r.conflicts.map((p) => `  ${quotePath(p)}\n`).join("") +
        "run `soc pull` (or `soc pull --keep-both`), resolve, then push again",
    );
  } else if (r.upToDate) o.log.info("up to date: nothing to push");
  else if (o.dryRun) o.log.info(`would push ${files(r.transferred.length)} and delete ${r.deleted.length}:\n${_list(r.transferred, r.deleted)}`);
  else o.log.info(`pushed ${files(r.transferred.length)}, deleted ${r.deleted.length}: now at revision ${r.revision}`);
}

function _reportPull(r: PullResult, o: { json?: boolean; log: Logger; verb: string }): void {
  if (r.conflicts.length) process.exitCode = EXIT.conflict;
  if (o.json)
    return printJson({ revision: r.revision, transferred: r.transferred, deleted: r.deleted, conflicts: r.conflicts, keptBoth: r.keptBoth });
  for (const p of r.conflicts)
    o.log.error(`conflict: ${quotePath(p)} changed here and on the server; yours was left alone (\`soc pull --keep-both\` keeps both)`);
  for (const p of r.keptBoth) o.log.warn(`kept your version as ${quotePath(p)}`);
  if (r.transferred.length + r.deleted.length === 0 && !r.conflicts.length) o.log.info(`up to date at revision ${r.revision}`);
  else
    o.log.info(
      `${o.verb} revision ${r.revision}: ${files(r.transferred.length)} updated, ${r.deleted.length} deleted${r.conflicts.length ? `, ${r.conflicts.length} in conflict` : ""}`,
    );
}

function _list(up: string[], del: string[]): string {
  return [...up.map((p) => `  + ${quotePath(p)}`), ...del.map((p) => `  - ${quotePath(p)}`)].join("\n");
}
