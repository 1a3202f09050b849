import { stdout } from "../lib/client/stdio.ts";
import { defineCommand } from "citty";
import { clientTokenFromEnv } from "../lib/client/config.ts";
import { findRepo, readRepoConfig } from "../lib/client/repo.ts";
import { findRsync } from "../lib/client/rsync-program.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { printJson } from "./_report.ts";
import { flags } from "./_shared.ts";

export default defineCommand({
  meta: { name: "remote", description: "Show the server this tree syncs with and how bytes reach it (example: soc remote --json)" },
  args: { ...flags.json },
  run: ({ args }) => {
    const layout = findRepo(process.cwd());
    const r = readRepoConfig(layout).remote;
    if (!r) throw new UsageError("no remote recorded for this working tree; run `soc init URL` first");
    const token = clientTokenFromEnv(process.env) ? "from SOC_TOKEN" : r.token ? "stored in .soc/config.json" : "none";
    const rsync = findRsync(process.env, r.rsync);
    const shown = {
      url: r.url,
      transport: r.transport,
      ...(r.ssh ? { ssh: r.ssh } : {}),
      token,
      rsync: rsync ? `${rsync.path} (${rsync.kind} ${rsync.version})` : "none found",
    };
    if (args.json) return printJson(shown);
    stdout.write(
      Object.entries(shown)
        .map(([k, v]) => `${`${k}:`.padEnd(11)}${v}\n`)
        .join(""),
    );
  },
});
