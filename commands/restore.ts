import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { createLogger } from "../lib/client/log.ts";
import { pull } from "../lib/client/pull.ts";
import { restoreToFile } from "../lib/client/restore.ts";
import { findRepo } from "../lib/client/repo.ts";
import { EXIT, UsageError } from "../lib/shared/errors.ts";
import { quotePath, toRepoPath } from "../lib/shared/paths.ts";
import { printJson } from "./_report.ts";
import { countArg, flags, withSession } from "./_shared.ts";

export default defineCommand({
  meta: {
    name: "restore",
    description: "Bring back a deleted or older version, for everyone or into a local file (example: soc restore notes.txt --rev 3)",
  },
  args: {
    ...flags.paths,
    rev: {
      type: "string",
      valueHint: "n",
      description: "The content as it was at revision N (default: the last version before the current one or its deletion)",
    },
    to: { type: "string", valueHint: "file", description: "Write that content to FILE only (must not exist); nothing changes on the server" },
    ...flags.json,
    ...flags.quiet,
  },
  run: async ({ args }) => {
    const top = findRepo(process.cwd()).top;
    const paths = args._.map((a) => toRepoPath(top, process.cwd(), a));
    const rev = args.rev === undefined ? undefined : countArg(args.rev, "--rev");
    const out = createLogger({ quiet: args.quiet });
    if (args.to !== undefined) {
      if (paths.length !== 1) throw new UsageError("--to takes exactly one PATH");
      const shown = args.to;
      const target = resolve(shown);
      if (existsSync(target)) throw new UsageError(`${shown}: already exists; choose a new file for --to`);
      const written = await withSession({}, (s) => restoreToFile(s.remote, paths[0] as string, rev, target, shown));
      return args.json ? printJson(written) : out.info(`wrote ${quotePath(written.path)} to ${written.to}`);
    }
    const result = await withSession(args, async (s) => {
      const restored = await s.remote.restore({ client: s.client, paths: paths.map((path) => (rev ? { path, rev } : { path })) });
      return { ...restored, pulled: await pull(s) };
    });
    const code = result.pulled.conflicts.length ? EXIT.conflict : EXIT.ok;
    if (args.json) {
      printJson(result);
      return code;
    }
    for (const r of result.restored) out.info(`restored ${quotePath(r.path)} as of revision ${r.fromRev}: now revision ${result.revision}`);
    for (const p of result.pulled.conflicts)
      out.error(`conflict: ${quotePath(p)} is modified here; the restored version is on the server (\`soc pull --keep-both\`)`);
    return code;
  },
});
