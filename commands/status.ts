import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { describeOutcome, readOutcome } from "../lib/client/outcome.ts";
import { findRepo, readRepoConfig } from "../lib/client/repo.ts";
import { scanRepo } from "../lib/client/scan.ts";
import { scanRepoAsking } from "../lib/client/watched-scan.ts";
import { openState } from "../lib/client/state.ts";
import { files, printJson, statusLines, toStatusReport } from "./_report.ts";

export default defineCommand({
  meta: { name: "status", description: "Show what the next push would send: A added, M modified, D deleted (example: soc status --json)" },
  args: {
    json: { type: "boolean", description: 'Print one JSON object {"added":[],"modified":[],"deleted":[]}' },
    verbose: { type: "boolean", alias: "v", description: "Also report on stderr how many files were scanned and hashed" },
    full: { type: "boolean", description: "Scan the whole tree, without asking a running `soc watch` what changed" },
  },
  run: async ({ args }) => {
    const layout = findRepo(process.cwd());
    using db = openState(layout.dbFile);
    const dirty: Awaited<ReturnType<typeof scanRepoAsking>> = args.full
      ? await scanRepo(layout, db, createLogger())
      : await scanRepoAsking(layout, db, createLogger());
    const report = toStatusReport(dirty);
    if (args.verbose) {
      const asked = dirty.asked === undefined ? "" : `; asked soc watch: ${dirty.asked} paths to look at`;
      process.stderr.write(`scanned ${files(dirty.tracked)}, hashed ${dirty.hashed}${asked}\n`);
    }
    if (args.json) return printJson(report);
    const lines = statusLines(report);
    process.stdout.write(lines.length ? `${lines.join("\n")}\n` : `nothing to push (${files(dirty.tracked)} tracked)\n`);
    if (readRepoConfig(layout).remote) {
      process.stdout.write(`${describeOutcome("push", readOutcome(db, "push"))}\n${describeOutcome("pull", readOutcome(db, "pull"))}\n`);
    }
  },
});
