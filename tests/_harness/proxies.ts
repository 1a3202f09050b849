import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "./fs.ts";
import { freePort, pollUntil } from "./proc.ts";

// Reverse proxies from Debian in front of a soc server, each configured with the README's recipe
// as it stands: only the address (plain HTTP on a free loopback port instead of a name with TLS)
// and the upstream port change.

/** A running proxy; `await using` stops it. */
export interface TestProxy extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`: the proxy's address, for `soc init` and requests. */
  url: string;
}

/** nginx on a free loopback port, proxying to the soc server at `upstream` (`http://127.0.0.1:PORT`) with the README's server block. */
export async function startNginx(upstream: string): Promise<TestProxy> {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(tempDir("soc-nginx-")).path;
  for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, sub));
  const port = freePort();
  const upstreamPort = new URL(upstream).port;
  const server = _readmeBlock(/```nginx\n([\s\S]*?)```/, "```nginx block")
    .replace(/listen 443 ssl;/, `listen 127.0.0.1:${port};`)
    .replace(/server_name \S+;/, "server_name _;")
    .replaceAll("127.0.0.1:8417", `127.0.0.1:${upstreamPort}`);
  const config = join(dir, "nginx.conf");
  writeFileSync(
    config,
    [
      "daemon off;",
      "master_process off;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "error.log")} warn;`,
      "events { worker_connections 256; }",
      "http {",
      "  access_log off;",
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
        (kind) => `  ${kind}_temp_path ${join(dir, kind === "client_body" ? "body" : kind)};`,
      ),
      server,
      "}",
      "",
    ].join("\n"),
  );
  const proc = Bun.spawn(["/usr/sbin/nginx", "-c", config, "-e", join(dir, "error.log")], { stdout: "ignore", stderr: "pipe" });
  stack.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGQUIT");
    await proc.exited;
  });
  return await _ready(stack, proc, port, () => readFileSync(join(dir, "error.log"), "utf8"));
}

/** Caddy on a free loopback port, proxying to the soc server at `upstream` with the README's one-line Caddyfile. */
export async function startCaddy(upstream: string): Promise<TestProxy> {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(tempDir("soc-caddy-")).path;
  const port = freePort();
  const site = _readmeBlock(/Caddy \(certificates included\):\n\n```\n([\s\S]*?)```/, "Caddy recipe")
    .replace(/^\S+ \{/, `http://127.0.0.1:${port} {`)
    .replaceAll("127.0.0.1:8417", `127.0.0.1:${new URL(upstream).port}`);
  const config = join(dir, "Caddyfile");
  writeFileSync(config, `{\n  admin off\n}\n${site}`); // no admin endpoint on :2019, which tests running at once would share
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") };
  const proc = Bun.spawn(["caddy", "run", "--config", config, "--adapter", "caddyfile"], { env, stdout: "ignore", stderr: "pipe" });
  stack.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await proc.exited;
  });
  return await _ready(stack, proc, port, () => "");
}

// ---------------------------------------------------------------------------

/** Waits until the proxy on `port` answers soc's health check, then hands over what `stack` owns; throws with its errors if it exits first. */
async function _ready(
  stack: AsyncDisposableStack,
  proc: Bun.Subprocess<"ignore", "ignore", "pipe">,
  port: number,
  log: () => string,
): Promise<TestProxy> {
  const url = `http://127.0.0.1:${port}`;
  const up = await pollUntil(async () => {
    if (proc.exitCode !== null) return true;
    return (await fetch(`${url}/v1/health`).catch(() => undefined))?.ok === true;
  }, 30_000);
  if (!up || proc.exitCode !== null) throw new Error(`the proxy did not start: ${await new Response(proc.stderr).text()} ${log()}`);
  const owned = stack.move();
  return { url, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** The first group of `pattern` in README.md: a recipe as the README gives it. */
function _readmeBlock(pattern: RegExp, what: string): string {
  const block = pattern.exec(readFileSync(join(ROOT, "README.md"), "utf8"))?.[1];
  if (!block) throw new Error(`README.md has no ${what}`);
  return block;
}
