import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { removePaths } from "../lib/client/track.ts";
import { files } from "./_report.ts";
import { flags, withLock } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "rm",
    description: "Stop tracking paths; files stay on disk, and the next push deletes them on the server (example: soc rm -r build)",
  },
  args: { ...flags.paths, ...flags.recursive, ...flags.wait, ...flags.quiet },
  run: async ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const summary = await withLock({ wait: args.wait, log }, () =>
      removePaths({ cwd: process.cwd(), args: args._, recursive: args.recursive === true, log }),
    );
    log.info(`stopped tracking ${files(summary.changed)}; tracking ${files(summary.tracked)}`);
  },
});
