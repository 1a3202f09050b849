import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./fs.ts";
import { freePort, pidsMentioning, pollUntil, waitFor } from "./proc.ts";

/** A throwaway sshd on 127.0.0.1 that accepts one temporary key; `await using` stops it. */
export interface TestSshd extends AsyncDisposable {
  /** `user@127.0.0.1`, for `soc init URL --ssh`. */
  host: string;
  /** An RSYNC_RSH value that reaches it with the temporary key and no host-key prompts. */
  rsyncRsh: string;
}

/**
 * Starts sshd (as a daemon) on a free loopback port with a temporary host key and client key.
 * A start-up that fails halfway stops what it started and removes its directory.
 */
export async function startSshd(): Promise<TestSshd> {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(tempDir("soc-sshd-")).path;
  for (const key of ["host_key", "client_key"]) _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, key)]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const port = freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true });
  // As a daemon, not a child: bun test kills every child still running when any test times out,
  // and this sshd serves a whole describe block. It is found again by its config file's path.
  const config = join(dir, "sshd_config");
  const start = Bun.spawnSync(["/usr/sbin/sshd", "-f", config], { stdout: "ignore", stderr: "pipe" });
  stack.defer(() => _stopDaemon(config));
  if (start.exitCode !== 0) throw new Error(`sshd exited with status ${start.exitCode}: ${start.stderr.toString()}`);
  const rsyncRsh = `ssh -p ${port} -i ${join(dir, "client_key")} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR`;
  await _untilListening(port);
  const owned = stack.move();
  return {
    // Bun's os.userInfo() can report "unknown"; id(1) reads the passwd database.
    host: `${Bun.spawnSync(["id", "-un"]).stdout.toString().trim()}@127.0.0.1`,
    rsyncRsh,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

// ---------------------------------------------------------------------------

function _run(argv: string[]): void {
  const res = Bun.spawnSync(argv, { stderr: "pipe" });
  if (res.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${res.stderr.toString()}`);
}

/** Polls until something accepts connections on 127.0.0.1:`port`. */
async function _untilListening(port: number): Promise<void> {
  const accepts = () =>
    Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    );
  await waitFor(accepts, `sshd to listen on port ${port}`);
}

/** SIGTERM to the sshd started with `config`, then waits (up to 60 s) until it is gone. */
async function _stopDaemon(config: string): Promise<void> {
  const running = () => pidsMentioning(config); // sshd rewrites its argv as one line: "sshd: /usr/sbin/sshd -f CONFIG [listener] …"
  for (const pid of running()) process.kill(pid, "SIGTERM");
  await pollUntil(() => running().length === 0, 60_000);
}
