import { defineCommand } from "citty";
import { tunnelEnv } from "../lib/client/config.ts";
import { UsageError } from "../lib/shared/errors.ts";
import { runTunnel } from "../lib/client/tunnel.ts";

/**
 * `soc tunnel -- HOST rsync --server …`: rsync's remote shell for the tunnel transport (hidden).
 * The host is ignored; the URL and token come from $SOC_TUNNEL_URL and $SOC_TOKEN, never argv.
 */
export default defineCommand({
  meta: { name: "tunnel", description: "rsync's remote shell for the tunnel transport (run by rsync, not by hand)", hidden: true },
  args: {
    command: { type: "positional", required: false, description: "HOST rsync --server …, as rsync passes it after --" },
  },
  run: async ({ rawArgs }) => {
    const [, ...command] = rawArgs[0] === "--" ? rawArgs.slice(1) : rawArgs;
    if (command.length === 0) throw new UsageError("usage: soc tunnel -- HOST rsync --server … (rsync runs this itself)");
    const { url, token } = tunnelEnv(process.env);
    return await runTunnel({ url, token, command, stdin: Bun.stdin.stream(), stdout: process.stdout, stderr: process.stderr });
  },
});
