import { rshString } from "../../lib/client/rsync.ts";
import { tunnelCommand, tunnelUrl } from "../../lib/client/tunnel.ts";
import { killGroup } from "./proc.ts";
import type { TestServer } from "./server.ts";

/**
 * Starts `rsync ARGS` through the tunnel to `server` in a new session (so its group can be killed);
 * `names` go to --files-from=- NUL-separated. `await using` kills the group if it is still running.
 */
export function rsyncViaTunnel(server: TestServer, token: string | undefined, args: string[], names: string[]) {
  const rsh = rshString(tunnelCommand());
  const proc = Bun.spawn(["setsid", "rsync", "-tp", "--chmod=Du+rwx", "--ignore-times", "--from0", "--files-from=-", `--rsh=${rsh}`, ...args], {
    env: { ...process.env, SOC_TUNNEL_URL: tunnelUrl(server.url), SOC_TOKEN: token },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  proc.stdin.write(names.map((n) => `${n}\0`).join(""));
  void proc.stdin.end();
  const result = (async () => {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return { stdout, stderr, code: await proc.exited };
  })();
  return { pid: proc.pid, result, [Symbol.asyncDispose]: () => killGroup(proc) };
}
