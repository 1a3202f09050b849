import { stdout } from "../lib/client/stdio.ts";
import { defineCommand } from "citty";
import { UsageError } from "../lib/shared/errors.ts";
import { createLogger } from "../lib/client/log.ts";
import { findRepo, readRepoConfig } from "../lib/client/repo.ts";
import { findRsync } from "../lib/client/rsync-program.ts";
import { cronLine, writeCrontab } from "../lib/client/schedule.ts";
import { selfCommand } from "../lib/client/self.ts";
import { flags } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "schedule",
    description: "Print (or install into your crontab) a line that pulls this tree regularly (example: soc schedule pull --every 15m --install)",
  },
  args: {
    verb: { type: "positional", required: false, description: "What to schedule: pull (the only choice)" },
    every: { type: "string", valueHint: "interval", description: "How often: 1m..59m, 1h..23h or 1d (default 15m)" },
    install: { type: "boolean", description: "Put the line into your crontab, replacing an earlier one for this tree" },
    remove: { type: "boolean", description: "Take this tree's line out of your crontab" },
    ...flags.quiet,
  },
  run: ({ args }) => {
    const layout = findRepo(process.cwd());
    const { top } = layout;
    const log = createLogger({ quiet: args.quiet });
    if (args.remove) {
      writeCrontab(top, undefined);
      return log.info(`removed the scheduled pull for ${top} from your crontab`);
    }
    if (args.verb !== "pull") throw new UsageError(`soc schedule ${args.verb ?? ""}: only \`soc schedule pull\` exists (or --remove)`);
    const line = cronLine({
      every: args.every ?? "15m",
      top,
      command: selfCommand(),
      rsync: findRsync(process.env, readRepoConfig(layout).remote?.rsync)?.path ?? null,
    });
    if (!args.install) return void stdout.write(`${line}\n`);
    writeCrontab(top, line);
    log.info(`installed in your crontab:\n${line}`);
  },
});
