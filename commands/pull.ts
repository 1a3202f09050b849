import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { pull } from "../lib/client/pull.ts";
import { reportPull } from "./_report.ts";
import { runSync, syncFlags } from "./_shared.ts";

export default defineCommand({
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
    return reportPull(result, { json: args.json, log: createLogger({ quiet: args.quiet }), verb: args["dry-run"] ? "would pull" : "pulled" });
  },
});
