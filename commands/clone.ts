import { defineCommand } from "citty";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { clientTokenFromEnv } from "../lib/client/config.ts";
import { createLogger } from "../lib/client/log.ts";
import { pull } from "../lib/client/pull.ts";
import { createRepoDir, recordRemote } from "../lib/client/repo.ts";
import { checkRemote } from "../lib/client/session.ts";
import { openState } from "../lib/client/state.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { reportPull } from "./_report.ts";
import { flags, runSync } from "./_shared.ts";

export default defineCommand({
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
    const remote = await checkRemote(args.url, { ...args, token: clientTokenFromEnv(process.env) ?? args.token });
    mkdirSync(dir, { recursive: true });
    const { layout } = createRepoDir(dir);
    openState(layout.dbFile).close();
    recordRemote(layout, remote, args.token);
    process.chdir(dir);
    const result = await runSync("pull", { quiet: args.quiet, json: args.json }, (s, progress) => pull(s, { progress }));
    return reportPull(result, { json: args.json, log: createLogger({ quiet: args.quiet }), verb: `cloned into ${dir}` });
  },
});
