import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { quotePath } from "../lib/shared/paths.ts";
import { describeOutcome, readOutcome } from "../lib/client/outcome.ts";
import { findRepo, readRepoConfig } from "../lib/client/repo.ts";
import { openState } from "../lib/client/state.ts";
import { scanRepo, toStatusReport } from "../lib/client/status.ts";
import { addPaths, removePaths } from "../lib/client/track.ts";
import { files, flags, printJson } from "./_shared.ts";

export const add = defineCommand({
  meta: { name: "add", description: "Track files, or with -r directories and the files they will hold (example: soc add -r photos notes.txt)" },
  args: { ...flags.paths, ...flags.recursive, ...flags.quiet },
  run: ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const summary = addPaths({ cwd: process.cwd(), args: args._, recursive: args.recursive === true, log });
    log.info(`tracking ${files(summary.tracked)} (${summary.changed} newly tracked)`);
  },
});

export const rm = defineCommand({
  meta: {
    name: "rm",
    description: "Stop tracking paths; files stay on disk, and the next push deletes them on the server (example: soc rm -r build)",
  },
  args: { ...flags.paths, ...flags.recursive, ...flags.quiet },
  run: ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const summary = removePaths({ cwd: process.cwd(), args: args._, recursive: args.recursive === true, log });
    log.info(`stopped tracking ${files(summary.changed)}; tracking ${files(summary.tracked)}`);
  },
});

export const status = defineCommand({
  meta: { name: "status", description: "Show what the next push would send: A added, M modified, D deleted (example: soc status --json)" },
  args: {
    json: { type: "boolean", description: 'Print one JSON object {"added":[],"modified":[],"deleted":[]}' },
    verbose: { type: "boolean", alias: "v", description: "Also report on stderr how many files were scanned and hashed" },
  },
  run: async ({ args }) => {
    const layout = findRepo(process.cwd());
    using db = openState(layout.dbFile);
    const dirty = await scanRepo(layout, db, createLogger());
    const report = toStatusReport(dirty);
    if (args.verbose) process.stderr.write(`scanned ${files(dirty.files.length)}, hashed ${dirty.hashed}\n`);
    if (args.json) return printJson(report);
    const lines = [
      ...report.added.map((p) => `A ${quotePath(p)}`),
      ...report.modified.map((p) => `M ${quotePath(p)}`),
      ...report.deleted.map((p) => `D ${quotePath(p)}`),
    ];
    process.stdout.write(lines.length ? `${lines.join("\n")}\n` : `nothing to push (${files(dirty.files.length)} tracked)\n`);
    if (readRepoConfig(layout).remote) {
      process.stdout.write(`${describeOutcome("push", readOutcome(db, "push"))}\n${describeOutcome("pull", readOutcome(db, "pull"))}\n`);
    }
  },
});
