import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli } from "./cli.ts";
import { tempDir, writeTree } from "./fs.ts";
import { startServer, type TestServer } from "./server.ts";

/** Makes `dir/a` a working tree of the server at `url` (`soc init URL ...initArgs`) whose d/ holds `files`, tracked and pushed; returns its path. */
export async function pushedTree(url: string, dir: string, files: Record<string, string>, initArgs: string[] = []): Promise<string> {
  const a = join(dir, "a");
  mkdirSync(join(a, "d"), { recursive: true });
  writeTree(join(a, "d"), files);
  await cli(a, ["init", url, ...initArgs]);
  await cli(a, ["add", "-r", "d"]);
  await cli(a, ["push"]);
  return a;
}

/** Points working tree `top` at the server at `url` (its .soc/config.json), as after the server moved to another port. */
export function pointAt(top: string, url: string): void {
  const file = join(top, ".soc/config.json");
  const config = JSON.parse(readFileSync(file, "utf8")) as { remote: { url: string } };
  writeFileSync(file, JSON.stringify({ ...config, remote: { ...config.remote, url } }));
}

/**
 * A fresh server (started with `serverArgs`, and a cache instead of a store with `cache`) and a
 * temp dir holding pushedTree(`files`) as `a`; `await using` stops the server and removes the
 * dir, as does a set-up that fails halfway.
 */
export async function serverAndPushedTree(
  files: Record<string, string>,
  initArgs: string[] = [],
  serverArgs: string[] = [],
  opts: { cache?: boolean } = {},
): Promise<{ server: TestServer; dir: string; a: string } & AsyncDisposable> {
  await using stack = new AsyncDisposableStack();
  const server = stack.use(await startServer({ args: serverArgs, cache: opts.cache === true }));
  const dir = stack.use(tempDir()).path;
  const a = await pushedTree(server.url, dir, files, initArgs);
  const owned = stack.move();
  return { server, dir, a, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}
