// A 200 MiB push and a 1%-changed push over the tunnel, against rsync over ssh and local rsync
// on the same data, plus the tunnel's session set-up (issue: "remote transports"). Run by
// scripts/bench.ts; alone: `bun scripts/bench-transport.ts [runs]`.
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { rshString } from "../lib/client/rsync.ts";
import { tunnelCommand, tunnelUrl } from "../lib/client/tunnel.ts";
import { startSshd } from "../tests/_harness/sshd.ts";
import { median, report, runCommand, startServerProcess, type BenchRow } from "./bench-lib.ts";

const SOC = ["bun", resolve(import.meta.dir, "..", "cli.ts")];
const MIB = 1024 * 1024;
const SIZE_MIB = 200;

/** Each case `runs` times on fresh stores; medians in MB/s (higher is better) and ms. */
export async function benchTransport(runs = 5, log: (m: string) => void = () => {}): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "soc-bench-transport-"));
  await using sshd = await startSshd();
  const env = { RSYNC_RSH: sshd.rsyncRsh };
  try {
    const src = join(dir, "src");
    _writeRandom(join(src, "data/big.bin"), SIZE_MIB);
    const t = {
      rawTunnel: [] as number[],
      rawSsh: [] as number[],
      rawLocal: [] as number[],
      tunnel: [] as number[],
      ssh: [] as number[],
      local: [] as number[],
      tunnel1: [] as number[],
      ssh1: [] as number[],
      local1: [] as number[],
      setup: [] as number[],
    };
    for (let round = 1; round <= runs; round++) {
      const r = join(dir, `r${round}`);
      await using server = await startServerProcess(join(r, "store"));
      runCommand([...SOC, "init", server.url, "--transport", "tunnel"], _mkdir(join(r, "tree")));
      runCommand(["cp", "-a", join(src, "data"), join(r, "tree/data")], dir);
      runCommand([...SOC, "add", "-r", "data"], join(r, "tree"));
      t.tunnel.push(_time(() => runCommand([...SOC, "push"], join(r, "tree"))));
      t.ssh.push(_time(() => runCommand(["rsync", "-t", join(src, "data/big.bin"), `${sshd.host}:${_mkdir(join(r, "ssh"))}/`], dir, { env })));
      t.local.push(_time(() => runCommand(["rsync", "-t", join(src, "data/big.bin"), `${_mkdir(join(r, "local"))}/`], dir)));
      // The transport alone: the same 200 MiB pulled out of the store by plain rsync each way.
      const big = new TextEncoder().encode("data/big.bin\0");
      const pullArgs = ["rsync", "-t", "--from0", "--files-from=-"];
      const tunnelEnv0 = { SOC_TUNNEL_URL: tunnelUrl(server.url) };
      t.rawTunnel.push(
        _time(() =>
          runCommand([...pullArgs, `--rsh=${rshString(tunnelCommand())}`, "soc:store/", `${_mkdir(join(r, "p1"))}/`], dir, {
            stdin: big,
            env: tunnelEnv0,
          }),
        ),
      );
      t.rawSsh.push(
        _time(() => runCommand([...pullArgs, `${sshd.host}:${join(r, "store")}/`, `${_mkdir(join(r, "p2"))}/`], dir, { stdin: big, env })),
      );
      t.rawLocal.push(_time(() => runCommand([...pullArgs, `${join(r, "store")}/`, `${_mkdir(join(r, "p3"))}/`], dir, { stdin: big })));
      _changeOnePercent(join(r, "tree/data/big.bin"), round);
      runCommand(["cp", "-p", join(r, "tree/data/big.bin"), join(r, "changed.bin")], dir);
      t.tunnel1.push(_time(() => runCommand([...SOC, "push"], join(r, "tree"))));
      // The references get the same delta problem: an old copy at the destination.
      t.ssh1.push(
        _time(() => runCommand(["rsync", "-tI", "--no-W", join(r, "changed.bin"), `${sshd.host}:${join(r, "ssh/big.bin")}`], dir, { env })),
      );
      t.local1.push(_time(() => runCommand(["rsync", "-tI", "--no-W", join(r, "changed.bin"), join(r, "local/big.bin")], dir)));
      // Set-up: a one-small-file download through the tunnel, less the same rsync done locally.
      const list = new TextEncoder().encode("data/tiny\0");
      writeFileSync(join(r, "store/data/tiny"), "x");
      const tunnelEnv = { SOC_TUNNEL_URL: tunnelUrl(server.url) };
      const viaTunnel = _time(() =>
        runCommand(
          ["rsync", "-t", "--from0", "--files-from=-", `--rsh=${rshString(tunnelCommand())}`, "soc:store/", `${_mkdir(join(r, "t1"))}/`],
          dir,
          { stdin: list, env: tunnelEnv },
        ),
      );
      const direct = _time(() =>
        runCommand(["rsync", "-t", "--from0", "--files-from=-", `${join(r, "store")}/`, `${_mkdir(join(r, "t2"))}/`], dir, { stdin: list }),
      );
      t.setup.push(viaTunnel - direct);
      log(`round ${round}: tunnel ${t.tunnel.at(-1)?.toFixed(0)} ms, ssh ${t.ssh.at(-1)?.toFixed(0)} ms, local ${t.local.at(-1)?.toFixed(0)} ms`);
      rmSync(r, { recursive: true, force: true });
    }
    const mbps = (ms: number[]) => (SIZE_MIB * MIB) / 1e6 / (median(ms) / 1000);
    const speed = (what: string, soc: number[], ref: number[], op: ">=" | "<=", value: number): BenchRow => {
      const [s, f] = [mbps(soc), mbps(ref)];
      return { what, soc: s, ref: f, unit: "MB/s", ratio: op === ">=" ? s / f : f / s, goal: { op, value } };
    };
    const ms = (what: string, soc: number[], ref: number[], value: number): BenchRow => {
      const [s, f] = [median(soc), median(ref)];
      return { what, soc: s, ref: f, unit: "ms", ratio: s / f, goal: { op: "<=", value } };
    };
    return [
      speed(`rsync of ${SIZE_MIB} MiB through the tunnel vs rsync over ssh`, t.rawTunnel, t.rawSsh, ">=", 2),
      speed(`rsync of ${SIZE_MIB} MiB through the tunnel vs local rsync (slower by)`, t.rawTunnel, t.rawLocal, "<=", 1.3),
      speed(`soc push ${SIZE_MIB} MiB over the tunnel vs rsync over ssh`, t.tunnel, t.ssh, ">=", 2),
      speed(`soc push ${SIZE_MIB} MiB over the tunnel vs local rsync (slower by)`, t.tunnel, t.local, "<=", 1.3),
      ms("soc push, 1% changed, tunnel vs rsync over ssh", t.tunnel1, t.ssh1, 0.5),
      ms("soc push, 1% changed, tunnel vs local rsync", t.tunnel1, t.local1, 1.3),
      {
        what: "tunnel session set-up (1-file rsync through it, less local)",
        soc: median(t.setup),
        unit: "ms",
        ratio: median(t.setup),
        goal: { op: "<", value: 100 },
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

function _mkdir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

function _writeRandom(path: string, mib: number): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const fd = openSync(path, "w");
  const block = new Uint8Array(MIB);
  for (let i = 0; i < mib; i++) writeSync(fd, _fill(block));
  closeSync(fd);
}

function _fill(block: Uint8Array): Uint8Array {
  for (let o = 0; o < block.length; o += 65536) crypto.getRandomValues(block.subarray(o, o + 65536));
  return block;
}

/** Rewrites 1% of the file in 20 spread-out places, keeping its size. */
function _changeOnePercent(path: string, round: number): void {
  const fd = openSync(path, "r+");
  const chunk = crypto.getRandomValues(new Uint8Array((SIZE_MIB * MIB) / 100 / 20));
  for (let k = 0; k < 20; k++) writeSync(fd, chunk, 0, chunk.length, Math.floor(((k + round / 10) * SIZE_MIB * MIB) / 20));
  closeSync(fd);
}

function _time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

if (import.meta.main) console.log(report(await benchTransport(Number(process.argv[2] ?? 3), (m) => console.error(m))));
