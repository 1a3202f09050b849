/**
 * `bun tests/_harness/leftovers.ts DIR`, run by `make test` after the suite: fails naming every
 * process whose argv or working directory lies in DIR (the run's TMPDIR), that is a server,
 * rsync, sshd or soc that a test started and did not stop. It waits a little for processes
 * that are already on their way out, then kills what is left, so one bad run does not leak
 * into the next.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const GRACE_MS = 10_000;

const dir = process.argv[2];
if (!dir || !dir.startsWith("/")) {
  console.error("usage: bun tests/_harness/leftovers.ts ABSOLUTE_DIR");
  process.exit(2);
}

let left = leftovers(dir);
for (const deadline = Date.now() + GRACE_MS; left.length > 0 && Date.now() < deadline; left = leftovers(dir)) await Bun.sleep(100);
if (left.length > 0) {
  console.error(`error: ${left.length} process(es) started by the tests are still running:`);
  for (const p of left) console.error(`  pid ${p.pid}: ${p.args} (cwd ${p.cwd})`);
  for (const p of left) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  process.exit(1);
}

/** Live processes (not this one, not zombies) whose argv or cwd mentions `dir`. */
function leftovers(dir: string): { pid: number; args: string; cwd: string }[] {
  const found: { pid: number; args: string; cwd: string }[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const stat = _read(`/proc/${pid}/stat`);
    if (stat === "" || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
    const args = _read(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
    let cwd = "";
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // exited, or not ours to see
    }
    if (args.includes(dir) || cwd === dir || cwd.startsWith(`${dir}/`)) found.push({ pid, args, cwd });
  }
  return found;
}

function _read(path: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return "";
  }
}
