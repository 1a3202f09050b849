import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { push } from "../lib/client/push.ts";
import { reportPush } from "./_report.ts";
import { runSync, syncFlags } from "./_shared.ts";

export default defineCommand({
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
      push(s, { force: args.force, dryRun: args["dry-run"], allowMassDelete: args["allow-mass-delete"], progress, askWatcher: true }),
    );
    return reportPush(result, { json: args.json, log: createLogger({ quiet: args.quiet }), dryRun: args["dry-run"] === true });
  },
});
