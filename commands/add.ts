import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { addPaths } from "../lib/client/track.ts";
import { files } from "./_report.ts";
import { flags, withLock } from "./_shared.ts";

export default defineCommand({
  meta: { name: "add", description: "Track files, or with -r directories and the files they will hold (example: soc add -r photos notes.txt)" },
  args: { ...flags.paths, ...flags.recursive, ...flags.wait, ...flags.quiet },
  run: async ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const summary = await withLock({ wait: args.wait, log }, () =>
      addPaths({ cwd: process.cwd(), args: args._, recursive: args.recursive === true, log }),
    );
    log.info(`tracking ${files(summary.tracked)} (${summary.changed} newly tracked)`);
  },
});
