import { defineCommand } from "citty";
import { createLogger } from "../lib/client/log.ts";
import { describeOutcome, readOutcome } from "../lib/client/outcome.ts";
import { findRepo, readRepoConfig } from "../lib/client/repo.ts";
import { findingsOf, scanRepo } from "../lib/client/scan.ts";
import { statusAsking } from "../lib/client/watched-scan.ts";
import { openState } from "../lib/client/state.ts";
import { stderr, stdout } from "../lib/client/stdio.ts";
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
    const { found, hashed, asked }: Awaited<ReturnType<typeof statusAsking>> = args.full
      ? await scanRepo(layout, db, createLogger()).then((scan) => ({ found: findingsOf(scan), hashed: scan.hashed }))
      : await statusAsking(layout, db, createLogger());
    const report = toStatusReport(found);
    if (args.verbose) {
      const watched = asked === undefined ? "" : `; asked soc watch: ${asked} paths to look at`;
      stderr.write(`scanned ${files(found.tracked)}, hashed ${hashed}${watched}\n`);
    }
    if (args.json) return printJson(report);
    const lines = statusLines(report);
    stdout.write(lines.length ? `${lines.join("\n")}\n` : `nothing to push (${files(found.tracked)} tracked)\n`);
    if (readRepoConfig(layout).remote) {
      stdout.write(`${describeOutcome("push", readOutcome(db, "push"))}\n${describeOutcome("pull", readOutcome(db, "pull"))}\n`);
    }
  },
});
