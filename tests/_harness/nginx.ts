import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "./fs.ts";
import { freePort, pollUntil } from "./proc.ts";

/** nginx from Debian in front of a soc server, configured with the README's recipe; `await using` stops it. */
export interface TestNginx extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`: the proxy's address, for `soc init` and requests. */
  url: string;
}

/**
 * Starts nginx on a free loopback port, proxying to the soc server at `upstream`
 * (`http://127.0.0.1:PORT`), with the server block of the README's nginx recipe as it stands:
 * only its address (plain HTTP on loopback instead of 443 with TLS) and upstream port change.
 */
export async function startNginx(upstream: string): Promise<TestNginx> {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(tempDir("soc-nginx-")).path;
  for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, sub));
  const port = freePort();
  const upstreamPort = new URL(upstream).port;
  const server = readmeRecipe()
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
  const url = `http://127.0.0.1:${port}`;
  const up = await pollUntil(async () => {
    if (proc.exitCode !== null) return true;
    return (await fetch(`${url}/v1/health`).catch(() => undefined))?.ok === true;
  }, 30_000);
  if (!up || proc.exitCode !== null) {
    throw new Error(`nginx did not start: ${await new Response(proc.stderr).text()} ${readFileSync(join(dir, "error.log"), "utf8")}`);
  }
  const owned = stack.move();
  return { url, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** The server block of the README's nginx recipe, with its comments. */
export function readmeRecipe(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /```nginx\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("README.md has no ```nginx block");
  return block;
}
