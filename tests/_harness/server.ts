import { chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir } from "./fs.ts";
import { pidsMentioning } from "./proc.ts";

/** A real `bun server.ts` on 127.0.0.1, port 0, over a temp store; `await using` stops it. */
export interface TestServer extends AsyncDisposable {
  url: string;
  /** What it printed on stdout up to its first newline, trimmed: "soc server listening on URL". */
  line: string;
  /** Absolute path of the store directory (with `cache`, of the cache). */
  store: string;
  /** Absolute path of the server's state directory (database, stages). */
  stateDir: string;
  /** The server's request log so far (stderr). */
  log(): string;
  /** Sends `signal` unless it has exited; resolves with its exit code and whole log once it has. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number; log: string }>;
}

/**
 * Starts a server (its store in `root`, else in a temp dir removed on stop); pass `token` to require
 * bearer auth, none means no SOC_TOKEN at all; `args` are more server flags and `env` adds to its
 * environment; `as` runs it as that user (setpriv, no supplementary groups), owning `root`. A server
 * that does not say where it listens within `ms` is killed, and so is one whose start-up fails
 * halfway: nothing is left running. With `cache`, a node of a cluster keeping a cache in
 * `root/cache` (--cache) instead of a store (`args` then name the database and the bucket).
 */
export async function startServer(
  opts: { token?: string; root?: string; args?: string[]; env?: Record<string, string>; as?: { uid: number; gid: number }; cache?: boolean } = {},
  ms = 60_000,
): Promise<TestServer> {
  await using stack = new AsyncDisposableStack();
  const root = opts.root ?? stack.use(tempDir("soc-server-")).path;
  const store = join(root, opts.cache ? "cache" : "store");
  const as = opts.as ? ["setpriv", `--reuid=${opts.as.uid}`, `--regid=${opts.as.gid}`, "--clear-groups", "--"] : [];
  if (opts.as) {
    mkdirSync(root, { recursive: true });
    chownSync(root, opts.as.uid, opts.as.gid);
  }
  const unprivileged = opts.as ? { HOME: "/nonexistent", BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" } : {};
  const proc = Bun.spawn([...as, "bun", join(ROOT, "server.ts"), opts.cache ? "--cache" : "--store", store, "--port", "0", ...(opts.args ?? [])], {
    env: { ...process.env, SOC_TOKEN: opts.token, ...unprivileged, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const running = () => proc.exitCode === null && proc.signalCode === null;
  stack.defer(async () => {
    if (running()) proc.kill("SIGTERM");
    await proc.exited;
  });
  let log = "";
  const decoder = new TextDecoder();
  const logged = (async () => {
    for await (const chunk of proc.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  const line = await _firstLine(proc.stdout, ms, () => log);
  const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
  if (!url) throw new Error(`unexpected server output: ${line}`);
  const owned = stack.move();
  return {
    url,
    line,
    store,
    stateDir: join(root, ".soc-server"),
    log: () => log,
    async stop(signal = "SIGTERM") {
      if (running()) proc.kill(signal);
      const code = await proc.exited;
      await logged;
      return { code, log };
    },
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

/** The pid of a startServer() server, found by its --store (or --cache) argument in /proc. */
export function serverPid(server: TestServer): number {
  const pid = pidsMentioning(`\0--store\0${server.store}\0`)[0] ?? pidsMentioning(`\0--cache\0${server.store}\0`)[0];
  if (pid === undefined) throw new Error(`no server process for ${server.store}`);
  return pid;
}

/** POST /v1/push/begin to a server (a TestServer, or any with a URL); returns the new stage id. */
export async function beginPush(server: { url: string }, token?: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/push/begin`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ client: "test" }),
  });
  if (!res.ok) throw new Error(`push/begin: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { stage: string }).stage;
}

// ---------------------------------------------------------------------------

/** The server's stdout up to its first newline, trimmed; throws if it ends first or takes longer than `ms`. */
async function _firstLine(stdout: ReadableStream<Uint8Array>, ms: number, log: () => string): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not listen within ${ms} ms: ${log()}`)), ms);
  });
  try {
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await Promise.race([reader.read(), late]);
      if (done) throw new Error(`server exited before listening: ${log()}`);
      out += decoder.decode(value, { stream: true });
    }
    return out.trim();
  } finally {
    clearTimeout(timer);
  }
}
