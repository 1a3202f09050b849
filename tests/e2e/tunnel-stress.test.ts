import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { md5File } from "../../lib/shared/hash.ts";
import { tempDir } from "../_harness/fs.ts";
import { childPids, pidsMentioning, rssKiB, waitFor } from "../_harness/proc.ts";
import { beginPush, serverPid, startServer, type TestServer } from "../_harness/server.ts";
import { rsyncViaTunnel } from "../_harness/tunnel.ts";

const TOKEN = "tunnel-stress-token";
const MiB = 1024 * 1024;

/** Writes `mib` MiB of random bytes to `path`. */
async function bigFile(path: string, mib: number): Promise<void> {
  const writer = Bun.file(path).writer();
  for (let i = 0; i < mib; i += 8) writer.write(randomBytes(8 * MiB));
  await writer.end();
}

/** Starts a bandwidth-limited 64 MiB upload through the tunnel and waits until it is under way. */
async function slowUpload(server: TestServer, work: string) {
  mkdirSync(join(work, "src"));
  await bigFile(join(work, "src", "big.bin"), 64);
  const stage = await beginPush(server, TOKEN);
  const stageDir = join(server.stateDir, "stage", stage);
  const run = rsyncViaTunnel(server, TOKEN, ["--bwlimit=8000", `${work}/src/`, `soc:stage/${stage}/`], ["big.bin"]);
  await waitFor(() => partial(stageDir, "big.bin") > MiB, "the upload to start");
  return { run, stageDir };
}

/** Size of rsync's in-progress temp file for `name` in `dir` (`.name.XXXXXX`), 0 if none yet. */
function partial(dir: string, name: string): number {
  const tmp = readdirSync(dir).find((n) => n.startsWith(`.${name}.`));
  return tmp ? (statSync(join(dir, tmp), { throwIfNoEntry: false })?.size ?? 0) : 0;
}

/** True while big.bin is still being written into `dir`, well short of its 200 MiB. */
function inFlight(dir: string): boolean {
  const size = partial(dir, "big.bin");
  return size > 0 && size < 190 * MiB;
}

/** Stops `pids` for `ms`, sampling the RSS of each of `watch`; resumes them; returns each peak in KiB. */
async function pausedPeaks(pids: number[], watch: number[], ms: number, stillRunning: () => boolean): Promise<number[]> {
  for (const p of pids) process.kill(p, "SIGSTOP");
  // The transfer must really be in flight while stopped, or the test would prove nothing.
  expect(stillRunning()).toBe(true);
  const peaks = watch.map(rssKiB);
  for (const end = performance.now() + ms; performance.now() < end; await Bun.sleep(50)) {
    watch.forEach((p, i) => (peaks[i] = Math.max(peaks[i] as number, rssKiB(p))));
  }
  for (const p of pids) process.kill(p, "SIGCONT");
  return peaks;
}

describe("tunnel under load", () => {
  test.each([
    ["rsync", false],
    ["rsync and the tunnel", true],
  ])("a 200 MiB download with the client's %s stopped keeps server and tunnel memory bounded and arrives intact", async (_, stopTunnel) => {
    await using server = await startServer({ token: TOKEN });
    using work = tempDir();
    const pid = serverPid(server);
    await bigFile(join(server.store, "big.bin"), 200);
    await bigFile(join(server.store, "warm.bin"), 1);
    const dest = join(work.path, "dest");
    mkdirSync(dest);
    expect((await rsyncViaTunnel(server, TOKEN, ["soc:store/", `${dest}/`], ["warm.bin"]).result).code).toBe(0);
    const baseline = rssKiB(pid);
    await using run = rsyncViaTunnel(server, TOKEN, ["soc:store/", `${dest}/`], ["big.bin"]);
    await waitFor(() => partial(dest, "big.bin") > 16 * MiB, "the download to start");
    const rsyncs = [run.pid, ...childPids(run.pid, "rsync")];
    const [tunnel] = childPids(run.pid).filter((p) => !rsyncs.includes(p));
    const stopped = stopTunnel ? [...rsyncs, tunnel as number] : rsyncs;
    const [serverPeak, tunnelPeak] = await pausedPeaks(stopped, [pid, tunnel as number], 3000, () => inFlight(dest));
    expect(await run.result).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(md5File(join(dest, "big.bin"))).toBe(md5File(join(server.store, "big.bin")));
    console.log(`download, stopped ${stopped.length} processes: server RSS ${baseline} KiB -> peak ${serverPeak} KiB; tunnel peak ${tunnelPeak} KiB`);
    expect((serverPeak as number) - baseline).toBeLessThan(64 * 1024);
    expect(tunnelPeak as number).toBeLessThan(160 * 1024);
  });

  test("a 200 MiB upload into a stopped server rsync keeps server memory bounded and arrives intact", async () => {
    await using server = await startServer({ token: TOKEN });
    using work = tempDir();
    const pid = serverPid(server);
    mkdirSync(join(work.path, "src"));
    await bigFile(join(work.path, "src", "big.bin"), 200);
    await bigFile(join(work.path, "src", "warm.bin"), 1);
    const warm = await beginPush(server, TOKEN);
    expect((await rsyncViaTunnel(server, TOKEN, [`${work.path}/src/`, `soc:stage/${warm}/`], ["warm.bin"]).result).code).toBe(0);
    const baseline = rssKiB(pid);
    const stage = await beginPush(server, TOKEN);
    const stageDir = join(server.stateDir, "stage", stage);
    await using run = rsyncViaTunnel(server, TOKEN, [`${work.path}/src/`, `soc:stage/${stage}/`], ["big.bin"]);
    await waitFor(() => partial(stageDir, "big.bin") > 16 * MiB, "the upload to start");
    const serverRsyncs = childPids(pid, "rsync").flatMap((p) => [p, ...childPids(p, "rsync")]);
    const [serverPeak] = await pausedPeaks(serverRsyncs, [pid], 3000, () => inFlight(stageDir));
    expect(await run.result).toEqual({ stdout: "", stderr: "", code: 0 });
    expect(md5File(join(stageDir, "big.bin"))).toBe(md5File(join(work.path, "src", "big.bin")));
    console.log(`upload: server RSS ${baseline} KiB -> peak ${serverPeak} KiB`);
    expect((serverPeak as number) - baseline).toBeLessThan(64 * 1024);
  });

  test("killing the client mid-transfer leaves no rsync --server behind", async () => {
    await using server = await startServer({ token: TOKEN });
    using work = tempDir();
    const { run, stageDir } = await slowUpload(server, work.path);
    await using _run = run;
    expect(pidsMentioning(stageDir).length).toBeGreaterThan(0);
    process.kill(-run.pid, "SIGKILL");
    await waitFor(() => pidsMentioning(stageDir).length === 0, "the server's rsync to end");
    expect(childPids(serverPid(server), "rsync")).toEqual([]);
  });

  test("a server that dies mid-transfer makes the tunnel fail with a clear message", async () => {
    await using server = await startServer({ token: TOKEN });
    using work = tempDir();
    const { run, stageDir } = await slowUpload(server, work.path);
    await using _run = run;
    process.kill(serverPid(server), "SIGKILL");
    const result = await run.result;
    const url = `${server.url.replace("http", "ws")}/v1/rsync`;
    expect(result.stderr).toContain(`soc tunnel: connection to ${url} closed before rsync finished (code 1006)\n`);
    expect(result.code).not.toBe(0);
    await waitFor(() => pidsMentioning(stageDir).length === 0, "the orphaned server rsync to end");
  });
});
