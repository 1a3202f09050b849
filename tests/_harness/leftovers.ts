/**
 * `bun tests/_harness/leftovers.ts DIR`, run by `make test` after the suite: fails naming every
 * process whose argv or working directory lies in DIR (the run's TMPDIR), that is a server,
 * rsync, sshd or soc that a test started and did not stop. It waits a little for processes
 * that are already on their way out, then kills what is left, so one bad run does not leak
 * into the next.
 */
import { readlinkSync } from "node:fs";
import { ancestorPids, liveProcesses, pollUntil } from "./proc.ts";

const GRACE_MS = 10_000;

const dir = process.argv[2];
if (!dir || !dir.startsWith("/")) {
  console.error("usage: bun tests/_harness/leftovers.ts ABSOLUTE_DIR");
  process.exit(2);
}

let left: ReturnType<typeof leftovers> = [];
await pollUntil(() => (left = leftovers(dir)).length === 0, GRACE_MS, 100);
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

/** Live processes (not this one or its ancestors, not zombies) whose argv or cwd mentions `dir`. */
function leftovers(dir: string): { pid: number; args: string; cwd: string }[] {
  const mine = new Set([process.pid, ...ancestorPids(process.pid)]);
  return liveProcesses()
    .filter((p) => !mine.has(p.pid))
    .map((p) => ({ pid: p.pid, args: p.cmdline.split("\0").join(" ").trim(), cwd: _cwd(p.pid) }))
    .filter((p) => p.args.includes(dir) || p.cwd === dir || p.cwd.startsWith(`${dir}/`));
}

// ---------------------------------------------------------------------------

function _cwd(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return ""; // exited, or not ours to see
  }
}
