import { stdout } from "../lib/client/stdio.ts";
import { defineCommand } from "citty";
import { findRepo } from "../lib/client/repo.ts";
import { toRepoPath } from "../lib/shared/paths.ts";
import { formatLog, printJson } from "./_report.ts";
import { countArg, flags, withSession } from "./_shared.ts";

export default defineCommand({
  meta: { name: "log", description: "List the server's revisions newest first, or one path's history (example: soc log notes/todo.txt)" },
  args: {
    path: { type: "positional", required: false, description: "A file, relative to the current directory" },
    limit: { type: "string", valueHint: "n", description: "Show at most this many revisions (default 50)" },
    ...flags.json,
  },
  run: async ({ args }) => {
    const path = args.path === undefined ? undefined : toRepoPath(findRepo(process.cwd()).top, process.cwd(), args.path);
    const limit = args.limit === undefined ? 50 : countArg(args.limit, "--limit");
    const result = await withSession({}, (s) => s.remote.log({ path, limit }));
    if (args.json) return printJson(result);
    stdout.write(formatLog(result));
  },
});
