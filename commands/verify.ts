import { stdout } from "../lib/client/stdio.ts";
import { defineCommand } from "citty";
import { findRepo } from "../lib/client/repo.ts";
import { openState } from "../lib/client/state.ts";
import { verifyTree } from "../lib/client/verify.ts";
import { EXIT } from "../lib/shared/errors.ts";
import { formatVerify, printJson } from "./_report.ts";
import { flags, withSession } from "./_shared.ts";

export default defineCommand({
  meta: { name: "verify", description: "Re-hash tracked files and report content that changed behind soc's back (example: soc verify --server)" },
  args: { server: { type: "boolean", description: "Ask the server to re-hash its store against its table instead" }, ...flags.json },
  run: async ({ args }) => {
    const result = args.server
      ? await withSession({}, (s) => s.remote.verify())
      : await (async () => {
          const layout = findRepo(process.cwd());
          using db = openState(layout.dbFile);
          return verifyTree(layout, db);
        })();
    if (args.json) printJson(result);
    else stdout.write(formatVerify(result, args.server ? "on the server" : "here"));
    return result.mismatches.length ? EXIT.error : EXIT.ok;
  },
});
