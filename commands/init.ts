import { defineCommand } from "citty";
import { clientTokenFromEnv } from "../lib/client/config.ts";
import { createLogger } from "../lib/client/log.ts";
import { createRepoDir, recordRemote } from "../lib/client/repo.ts";
import { checkRemote } from "../lib/client/session.ts";
import { openState } from "../lib/client/state.ts";
import { flags } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "init",
    description:
      "Start a working tree here (create .soc/), optionally syncing with the server at URL (example: soc init http://droplet:8417 --token T)",
  },
  args: { url: { type: "positional", required: false, description: "The soc server, e.g. http://127.0.0.1:8417" }, ...flags.remote, ...flags.quiet },
  run: async ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const remote = args.url ? await checkRemote(args.url, { ...args, token: clientTokenFromEnv(process.env) ?? args.token }) : undefined;
    const { layout, created } = createRepoDir(process.cwd());
    openState(layout.dbFile).close();
    if (remote) recordRemote(layout, remote, args.token);
    log.info(`${created ? "Initialized" : "Reinitialized"} soc working tree in ${layout.dir}${args.url ? ` syncing with ${args.url}` : ""}`);
  },
});
