import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A throwaway sshd on 127.0.0.1 that accepts one temporary key; `await using` stops it. */
export interface TestSshd extends AsyncDisposable {
  /** `user@127.0.0.1`, for `soc init URL --ssh`. */
  host: string;
  /** An RSYNC_RSH value that reaches it with the temporary key and no host-key prompts. */
  rsyncRsh: string;
}

/** Starts sshd in the foreground on a free loopback port with a temporary host key and client key. */
export async function startSshd(): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), "soc-sshd-"));
  for (const key of ["host_key", "client_key"]) _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, key)]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const port = _freePort();
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
  const proc = Bun.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")], { stdout: "ignore", stderr: "pipe" });
  const rsyncRsh = `ssh -p ${port} -i ${join(dir, "client_key")} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR`;
  await _untilListening(port, proc);
  return {
    // Bun's os.userInfo() can report "unknown"; id(1) reads the passwd database.
    host: `${Bun.spawnSync(["id", "-un"]).stdout.toString().trim()}@127.0.0.1`,
    rsyncRsh,
    [Symbol.asyncDispose]: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------

function _run(argv: string[]): void {
  const res = Bun.spawnSync(argv, { stderr: "pipe" });
  if (res.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${res.stderr.toString()}`);
}

function _freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

async function _untilListening(port: number, proc: Bun.Subprocess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`sshd exited with status ${proc.exitCode}`);
    const up = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    );
    if (up) return;
    await Bun.sleep(20);
  }
  throw new Error("sshd did not start listening within 10 s");
}
