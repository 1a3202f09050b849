import { afterAll, beforeAll } from "bun:test";
import { createHash, createHmac, randomBytes, randomUUID } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./fs.ts";
import { freePort, pollUntil } from "./proc.ts";

/** A throwaway Ceph RGW, a real S3 endpoint, on 127.0.0.1; `await using` stops its daemons and removes its files. */
export interface TestRgw extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`: path-style S3, loopback only. */
  endpoint: string;
  /** The one S3 user's keys (random for each start). */
  accessKeyId: string;
  secretAccessKey: string;
  /** The region requests are signed for (RGW takes any; this one is Bun's default). */
  region: string;
  /** Creates an empty bucket owned by the user and returns its name; throws for a name S3 refuses or one already created here. */
  createBucket(name: string): Promise<string>;
  /** Options for `new Bun.S3Client(…)` that reach `bucket` as the user. */
  s3(bucket: string): Bun.S3Options;
  /** The environment a soc server reads the endpoint and keys from (S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION). */
  env: Record<(typeof S3_ENV)[number], string>;
}

/** The variables TestRgw.env sets. */
export const S3_ENV = ["S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_REGION"] as const;

/**
 * One RGW for the tests of a file: started before them, stopped after them. Returns it (once
 * started) and a fresh bucket named `prefix-N` for each call.
 */
export function rgwForTests(prefix: string): { rgw(): TestRgw; bucket(): Promise<string> } {
  let rgw: TestRgw | undefined;
  let buckets = 0;
  beforeAll(async () => {
    rgw = await startRgw();
  }, 300_000);
  afterAll(async () => {
    await rgw?.[Symbol.asyncDispose]();
  });
  const started = () => {
    if (!rgw) throw new Error("the RGW did not start");
    return rgw;
  };
  return { rgw: started, bucket: () => started().createBucket(`${prefix}-${++buckets}`) };
}

/**
 * Starts a single-node Ceph cluster (one monitor, one OSD that keeps objects in RAM, auth off) and
 * an RGW on free loopback ports, every file of it in a temp directory, and creates one S3 user.
 * Throws after 120 s (a slow, busy CI machine takes far less), or as soon as a daemon dies, with
 * the tail of its log. A start-up that fails halfway stops what it started and removes its directory.
 */
export async function startRgw(): Promise<TestRgw> {
  const missing = _TOOLS.filter((tool) => Bun.which(tool) === null);
  if (missing.length > 0) throw new Error(`Ceph is not installed (no ${missing.join(", ")}): run \`make tools\``);
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(tempDir("soc-rgw-")).path;
  const daemons: _Daemon[] = [];
  const deadline = performance.now() + _START_MS;
  const tool = (argv: string[]) => _tool(argv, deadline, daemons);

  const monPort = freePort();
  let rgwPort = freePort();
  while (rgwPort === monPort) rgwPort = freePort();
  for (const sub of ["run", "log", "crash", "mon", "osd/0", "rgw"]) mkdirSync(join(dir, sub), { recursive: true });
  const fsid = randomUUID();
  const conf = join(dir, "ceph.conf");
  writeFileSync(conf, _config(dir, fsid, monPort, rgwPort));
  const c = ["-c", conf];

  // A plain --add on any port but 6789 records a v2 address, which the v1 `mon host` never reaches.
  await tool(["monmaptool", "--create", "--addv", "a", `[v1:127.0.0.1:${monPort}]`, "--fsid", fsid, join(dir, "monmap")]);
  await tool(["ceph-mon", ...c, "--mkfs", "-i", "a", "--monmap", join(dir, "monmap")]);
  _started(stack, daemons, _daemon(dir, "mon.a", ["ceph-mon", ...c, "-f", "-i", "a"]));
  // Asked before it leads its quorum of one, a monitor refuses commands (EPERM).
  const monSocket = join(dir, "run", "mon.a.asok");
  await _until(() => _monLeads(monSocket), "the monitor to lead its quorum", deadline, daemons);

  // The OSD's uuid must be the one the monitor allotted its id to; it does not place itself in
  // the crush map (see _config), so that is done here.
  const osdUuid = randomUUID();
  const wait = ["--connect-timeout", String(Math.ceil(_START_MS / 1000))];
  const id = (await tool(["ceph", ...c, ...wait, "osd", "create", osdUuid])).trim();
  if (id !== "0") throw new Error(`ceph osd create gave the OSD id ${JSON.stringify(id)}, not 0`);
  await tool(["ceph-osd", ...c, "--mkfs", "-i", "0", "--osd-uuid", osdUuid]);
  await tool(["ceph", ...c, ...wait, "osd", "crush", "add", "osd.0", "1.0", "host=local", "root=default"]);
  _started(stack, daemons, _daemon(dir, "osd.0", ["ceph-osd", ...c, "-f", "-i", "0"]));

  // Made before the RGW starts, so that it never sees (nor caches) the keys as unknown.
  const accessKeyId = `SOC${randomBytes(9).toString("hex").toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString("base64url");
  await tool([
    "radosgw-admin",
    ...c,
    "user",
    "create",
    "--uid=soc",
    "--display-name=soc",
    `--access-key=${accessKeyId}`,
    `--secret-key=${secretAccessKey}`,
  ]);
  _started(stack, daemons, _daemon(dir, "client.rgw.a", ["radosgw", ...c, "-f", "-n", "client.rgw.a"]));
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  await _until(() => _answers(endpoint), `the RGW to answer on ${endpoint}`, deadline, daemons);

  const region = "us-east-1";
  const created = new Set<string>();
  const owned = stack.move();
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region,
    createBucket: async (name) => {
      if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name)) throw new Error(`not a plain bucket name (3-63 of a-z, 0-9, -): ${name}`);
      // RGW answers 200 to a second create by the same owner: the set keeps "fresh" true.
      if (created.has(name)) throw new Error(`bucket ${name} was created already`);
      const url = new URL(`${endpoint}/${name}`);
      const res = await fetch(url, { method: "PUT", body: "", headers: _signV4("PUT", url, { accessKeyId, secretAccessKey, region }) });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`creating bucket ${name}: RGW answered ${res.status}: ${body}`);
      created.add(name);
      return name;
    },
    s3: (bucket) => ({ endpoint, accessKeyId, secretAccessKey, region, bucket }),
    env: { S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: accessKeyId, S3_SECRET_ACCESS_KEY: secretAccessKey, S3_REGION: region },
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

// ---------------------------------------------------------------------------

const _TOOLS = ["monmaptool", "ceph-mon", "ceph-osd", "ceph", "radosgw", "radosgw-admin"];
const _START_MS = 120_000;
const _STOP_GRACE_MS = 10_000;

/** A daemon started in the foreground: its process, and where it logs and prints. */
interface _Daemon {
  name: string;
  proc: Bun.Subprocess;
  log: string;
  out: string;
}

/** ceph.conf: auth off, one copy of everything, objects in RAM, every path in `dir`, loopback only. */
function _config(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return [
    "[global]",
    `fsid = ${fsid}`,
    `mon host = v1:127.0.0.1:${monPort}`,
    "public addr = 127.0.0.1",
    "cluster addr = 127.0.0.1",
    "ms bind msgr2 = false",
    "ms bind ipv6 = false",
    "auth cluster required = none",
    "auth service required = none",
    "auth client required = none",
    `keyring = ${dir}/keyring`,
    `run dir = ${dir}/run`,
    `admin socket = ${dir}/run/$name.asok`,
    `pid file = ${dir}/run/$name.pid`,
    `log file = ${dir}/log/$name.log`,
    `crash dir = ${dir}/crash`,
    `mon data = ${dir}/mon/$id`,
    `mgr data = ${dir}/mgr/$id`,
    `osd data = ${dir}/osd/$id`,
    `osd journal = ${dir}/osd/$id/journal`,
    `rgw data = ${dir}/rgw`,
    `rgw luarocks location = ${dir}/rgw/luarocks`,
    "mon cluster log to file = false",
    // Under 5 % free on the disk, the monitor would shut itself down.
    "mon data avail crit = 0",
    "mon allow pool size one = true",
    // Each pool RGW makes waits for a map update: 0.1 s instead of 1 s starts it in 3 s, not 12.
    "paxos propose interval = 0.1",
    "osd pool default size = 1",
    "osd pool default min size = 1",
    // Fewer placement groups to peer; 32 for each of RGW's 7 pools nears the 250 an OSD may hold.
    "osd pool default pg num = 8",
    "osd pool default pgp num = 8",
    "osd objectstore = memstore",
    "memstore device bytes = 1073741824",
    // An OSD that sets its own crush location or device class as it starts is now and then told
    // "wrong fsid" by the monitor (4 starts in 12 on a 2-core machine) and exits.
    "osd crush update on start = false",
    "osd class update on start = false",
    "",
    "[client.rgw.a]",
    `rgw frontends = beast endpoint=127.0.0.1:${rgwPort}`,
    "rgw thread pool size = 32",
    "",
  ].join("\n");
}

/** Starts `argv` in the foreground (a child of this process, so exact pids), its output into log/NAME.out. */
function _daemon(dir: string, name: string, argv: string[]): _Daemon {
  const out = join(dir, "log", `${name}.out`);
  const fd = openSync(out, "a");
  try {
    const proc = Bun.spawn(argv, { stdin: "ignore", stdout: fd, stderr: fd });
    return { name, proc, log: join(dir, "log", `${name}.log`), out };
  } finally {
    closeSync(fd);
  }
}

/** Runs a Ceph tool to its end and returns its stdout; throws if it fails, outlasts `deadline`, or a daemon dies meanwhile. */
/**
 * _toolOnce, asked again while the monitor still refuses commands ("problem getting command
 * descriptions": it leads, but is not ready yet; seen on a busy machine), until the deadline.
 */
async function _tool(argv: string[], deadline: number, daemons: _Daemon[]): Promise<string> {
  for (;;) {
    try {
      return await _toolOnce(argv, deadline, daemons);
    } catch (error) {
      if (!String((error as Error).message).includes("problem getting command descriptions") || performance.now() > deadline) throw error;
      await Bun.sleep(250);
    }
  }
}

async function _toolOnce(argv: string[], deadline: number, daemons: _Daemon[]): Promise<string> {
  const proc = Bun.spawn(argv, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: Math.max(1, Math.ceil(deadline - performance.now())),
    killSignal: "SIGKILL",
  });
  const finished = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const died = await Promise.race([finished.then(() => undefined), ...daemons.map((d) => d.proc.exited.then(() => d))]);
  if (died !== undefined) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw _diedError(died, argv.join(" "));
  }
  const [stdout, stderr, code] = await finished;
  if (proc.signalCode === "SIGKILL") throw _timeoutError(argv.join(" "), daemons);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr}${stdout}`);
  return stdout;
}

/** Polls `check` until it holds; throws if a daemon dies first or `deadline` passes. */
async function _until(check: () => Promise<boolean>, what: string, deadline: number, daemons: _Daemon[]): Promise<void> {
  for (;;) {
    const died = daemons.find((d) => _exited(d.proc));
    if (died) throw _diedError(died, what);
    if (await check()) return;
    if (performance.now() > deadline) throw _timeoutError(what, daemons);
    await Bun.sleep(100);
  }
}

/** Whether the monitor behind admin socket `path` is the leader (so answers commands). */
async function _monLeads(path: string): Promise<boolean> {
  const proc = Bun.spawn(["ceph", "--admin-daemon", path, "mon_status"], { stdin: "ignore", stdout: "pipe", stderr: "ignore", timeout: 10_000 });
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  try {
    return code === 0 && (JSON.parse(stdout) as { state?: string }).state === "leader";
  } catch {
    return false;
  }
}

/** Whether an anonymous ListBuckets gets its 200: the RGW has its pools and serves. */
async function _answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(endpoint, { signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Records a started daemon, to be stopped in reverse order of start (an OSD whose monitor is gone waits 5 s to report it stops). */
function _started(stack: AsyncDisposableStack, daemons: _Daemon[], d: _Daemon): void {
  daemons.push(d);
  stack.defer(() => _stop(d));
}

/** SIGTERM, then SIGKILL if it still runs after the grace; waits until it is gone. */
async function _stop(d: _Daemon): Promise<void> {
  if (!_exited(d.proc)) {
    d.proc.kill("SIGTERM");
    if (!(await pollUntil(() => _exited(d.proc), _STOP_GRACE_MS, 50))) d.proc.kill("SIGKILL");
  }
  await d.proc.exited;
}

function _exited(proc: Bun.Subprocess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

function _diedError(d: _Daemon, during: string): Error {
  const how = d.proc.signalCode ?? `status ${d.proc.exitCode}`;
  return new Error(`${d.name} exited (${how}) during ${during}:\n${_tail(d.out)}${_tail(d.log)}`);
}

/** A timeout, with the log of the daemon started last: the one the wait was for, or the one it waited on. */
function _timeoutError(what: string, daemons: _Daemon[]): Error {
  const last = daemons.at(-1);
  return new Error(`timed out after ${_START_MS} ms waiting for ${what}${last ? `; the end of ${last.log}:\n${_tail(last.log)}` : ""}`);
}

function _tail(path: string, lines = 20): string {
  try {
    const text = readFileSync(path, "utf8");
    return text === "" ? "" : `${text.trimEnd().split("\n").slice(-lines).join("\n")}\n`;
  } catch {
    return "";
  }
}

/** The headers of an AWS Signature V4 for a request without a body (S3, `keys.region`). */
function _signV4(method: string, url: URL, keys: { accessKeyId: string; secretAccessKey: string; region: string }): Record<string, string> {
  const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, ""); // 20250101T120000Z
  const day = date.slice(0, 8);
  const hex = (data: string) => createHash("sha256").update(data).digest("hex");
  const payload = hex("");
  // RGW wants x-amz-content-sha256 signed too.
  const headers = { host: url.host, "x-amz-content-sha256": payload, "x-amz-date": date };
  const names = Object.keys(headers).join(";");
  const lines = Object.entries(headers).map(([name, value]) => `${name}:${value}\n`);
  const canonical = [method, url.pathname, url.search.slice(1), lines.join(""), names, payload].join("\n");
  const scope = `${day}/${keys.region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", date, scope, hex(canonical)].join("\n");
  let key: Buffer = Buffer.from(`AWS4${keys.secretAccessKey}`);
  for (const part of [day, keys.region, "s3", "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  const { host: _host, ...sent } = headers; // fetch sets Host itself
  return { ...sent, authorization: `AWS4-HMAC-SHA256 Credential=${keys.accessKeyId}/${scope}, SignedHeaders=${names}, Signature=${signature}` };
}
