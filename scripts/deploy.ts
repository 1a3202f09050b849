#!/usr/bin/env bun
// `make deploy` (after `make build`): copies dist/soc, dist/soc-server, the unit template and
// scripts/deploy-remote.sh to DEPLOY_HOST:DEPLOY_DIR with rsync over ssh, runs the script there,
// then prints the server's URL and, on the first deploy, its token. Settings come from the
// environment (make passes its command-line variables on): DEPLOY_HOST (required), DEPLOY_DIR
// (/opt/soc), DEPLOY_PORT (22; RSYNC_RSH, when set, is the ssh command instead), SERVER_PORT
// (empty keeps the deployed one, 8417 at first), DEPLOY_SYSTEMD (1).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const FILES = ["dist/soc", "dist/soc-server", "deploy/soc-server.service", "scripts/deploy-remote.sh"];

/** What one deploy needs, read from the environment and checked. */
interface DeployOptions {
  host: string;
  dir: string;
  /** The ssh command as rsync's -e takes it. */
  rsh: string;
  serverPort: string;
  systemd: "0" | "1";
}

/** Reads and checks the deploy settings; throws an Error saying which one is wrong. */
function readDeployOptions(env: Record<string, string | undefined>): DeployOptions {
  const host = env.DEPLOY_HOST?.trim() ?? "";
  if (!/^[^\s-][^\s]*$/.test(host)) throw new Error("set DEPLOY_HOST=user@host (the machine to run the server on)");
  const dir = env.DEPLOY_DIR?.trim() || "/opt/soc";
  if (!/^\/[A-Za-z0-9._/-]*$/.test(dir))
    throw new Error(`DEPLOY_DIR must be an absolute path of letters, digits and . _ / -, got ${JSON.stringify(dir)}`);
  const sshPort = env.DEPLOY_PORT?.trim() || "22";
  if (!/^[0-9]{1,5}$/.test(sshPort)) throw new Error(`DEPLOY_PORT must be a number, got ${JSON.stringify(sshPort)}`);
  const serverPort = env.SERVER_PORT?.trim() ?? "";
  if (!/^([0-9]{1,5})?$/.test(serverPort)) throw new Error(`SERVER_PORT must be a number, got ${JSON.stringify(serverPort)}`);
  const systemd = env.DEPLOY_SYSTEMD?.trim() || "1";
  if (systemd !== "0" && systemd !== "1") throw new Error(`DEPLOY_SYSTEMD must be 0 or 1, got ${JSON.stringify(systemd)}`);
  return { host, dir, rsh: env.RSYNC_RSH?.trim() || `ssh -p ${sshPort}`, serverPort, systemd };
}

/** Copies the files, runs the remote script, prints URL and token; throws with what failed. */
async function deploy(opts: DeployOptions): Promise<void> {
  const missing = FILES.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) throw new Error(`${missing.join(", ")} missing: run make build first (make deploy does)`);
  const ssh = _splitRsh(opts.rsh);
  _say(`copying to ${opts.host}:${opts.dir}`);
  await _run([...ssh, opts.host, `mkdir -p -- ${_shq(opts.dir)}`], "creating DEPLOY_DIR over ssh");
  await _run(
    ["rsync", "-tpz", `--rsh=${opts.rsh}`, ...FILES.map((f) => join(ROOT, f)), `${opts.host}:${opts.dir}/`],
    "rsync (is rsync installed on the host?)",
  );
  _say(`starting the server (${opts.systemd === "1" ? "systemd unit soc-server" : "detached, no systemd"})`);
  const remote = ["sh", "-s", "--", opts.dir, opts.systemd, opts.serverPort].map(_shq).join(" ");
  const out = await _run([...ssh, opts.host, remote], "the remote deploy script", Bun.file(join(ROOT, "scripts/deploy-remote.sh")));
  const port = /^soc-deploy: port=(\d+)$/m.exec(out)?.[1];
  const token = /^soc-deploy: token=(\S+)$/m.exec(out)?.[1];
  if (!port) throw new Error(`the remote deploy script did not report a port:\n${out}`);
  const name = opts.host.replace(/^.*@/, "");
  const url = `http://${name.includes(":") ? `[${name}]` : name}:${port}`;
  console.log(`soc server running at ${url}`);
  if (token) {
    console.log(`token: ${token}   (shown this once; kept in ${opts.dir}/soc.env on ${opts.host})`);
    console.log(`on each machine: soc init ${url} --token ${token}   (or set SOC_TOKEN)`);
  } else {
    console.log(`token unchanged (SOC_TOKEN in ${opts.dir}/soc.env on ${opts.host})`);
  }
}

// ---------------------------------------------------------------------------

/** Splits an RSYNC_RSH-style command on blanks, honouring '…' and "…" words (as rsync does). */
function _splitRsh(rsh: string): string[] {
  return [...rsh.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

/** One word for the remote login shell, whatever it holds. */
function _shq(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

async function _run(argv: string[], what: string, stdin?: Blob): Promise<string> {
  const proc = Bun.spawn(argv, { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  for (const line of out.split("\n")) if (line && !line.startsWith("soc-deploy: ")) console.log(line);
  if (code !== 0) throw new Error(`${what} failed (exit ${code})`);
  return out;
}

function _say(text: string): void {
  console.error(`deploy: ${text}`);
}

if (import.meta.main) {
  try {
    await deploy(readDeployOptions(process.env));
  } catch (error) {
    console.error(`deploy: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
