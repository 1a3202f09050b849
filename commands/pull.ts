import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { pull } from "../lib/client/pull.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { reportPull } from "./_report.ts";
import { runSync, syncFlags } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "pull",
    description: "Bring in everyone else's changes; never overwrites a local edit (exit 3 lists them) (example: soc pull --quiet)",
  },
  args: {
    "keep-both": { type: "boolean", description: "On a conflict take the server's version and keep yours beside it as NAME.conflict-HOST-TIME.EXT" },
    reattach: {
      type: "boolean",
      description:
        "Sync again with a server that was replaced or restored: every file that differs is kept beside the server's (implies --keep-both)",
    },
    ...syncFlags,
  },
  run: async ({ args }) => {
    if (args.reattach && args["dry-run"]) throw new UsageError("--reattach cannot be a dry run: it starts this tree over with the server");
    const keepBoth = args["keep-both"] || args.reattach;
    const result = await runSync("pull", args, (s, progress) => pull(s, { keepBoth, dryRun: args["dry-run"], progress }));
    return reportPull(result, { json: args.json, log: createLogger({ quiet: args.quiet }), verb: args["dry-run"] ? "would pull" : "pulled" });
  },
});
