import { websocket } from "elysia/ws";
import { createApp, type AppDeps } from "../../handlers/index.ts";
import { createCommitter, type Committer } from "../../lib/server/committer.ts";
import { DEFAULT_KEEP_DAYS } from "../../lib/server/config.ts";
import type { Store } from "../../lib/server/store.ts";
import type { TablePort } from "../../lib/server/table-port.ts";
import type { Table } from "../../lib/server/table.ts";
import type { PushCommitRequest, Upsert } from "../../lib/shared/protocol.ts";
import { upsertOf } from "./upserts.ts";
import { writeFile } from "./fs.ts";
import { serverState } from "./server-state.ts";

/** A server's state in a fresh temp dir plus its app; `await using` removes it all. */
export interface Harness extends AsyncDisposable {
  dir: string;
  /** The SQLite table, for a test's direct reads. */
  table: Table;
  /** The same table as the app sees it. */
  port: TablePort;
  store: Store;
  app: ReturnType<typeof createApp>;
  /** The app's committer (a worker thread's), closed with the harness. */
  commits: Committer;
  /** Sends a request to the app; `body` objects are sent as JSON. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Begins a push and writes `files` (path → content) into its stage; returns the stage id and upserts. */
  stage(files: Record<string, string>, baseRev?: number): Promise<{ stage: string; upserts: Upsert[] }>;
  /** Commits a changeset built from the defaults plus `over`. */
  commit(over: Partial<PushCommitRequest> & { stage: string }): Promise<Response>;
}

/** Builds a Harness; pass `token` to require bearer auth, `deps` to override app deps (clock, keepDays). */
export async function makeHarness(token?: string, deps: Partial<AppDeps> = {}): Promise<Harness> {
  using stack = new DisposableStack();
  const { dir, store, table, port } = stack.use(serverState("soc-http-"));
  const now = deps.now ?? (() => 1_700_000_000_000);
  const commits = deps.committer ?? createCommitter({ ...deps, table: port, store, now, keepDays: deps.keepDays ?? DEFAULT_KEEP_DAYS });
  const app = createApp({ table: port, store, token, version: "9.9.9", now, committer: commits, ...deps });
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = auth) =>
    app.handle(
      new Request(`http://localhost${path}`, {
        method,
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      }),
    );
  const owned = stack.move();
  return {
    dir,
    table,
    port,
    store,
    app,
    commits,
    call,
    async stage(files, baseRev = 0) {
      const begin = (await (await call("POST", "/v1/push/begin", { client: "test" })).json()) as { stage: string; stagePath: string };
      const upserts = Object.entries(files).map(([path, content]) => {
        writeFile(begin.stagePath, path, content);
        return upsertOf(path, content, baseRev);
      });
      return { stage: begin.stage, upserts };
    },
    commit: (over) => call("POST", "/v1/push/commit", { client: "test", upserts: [], deletes: [], roots: { set: [], remove: [] }, ...over }),
    [Symbol.asyncDispose]: async () => {
      try {
        await commits.close();
      } finally {
        owned.dispose();
      }
    },
  };
}

/** A real server in this process: createApp behind Bun.serve on 127.0.0.1, port 0, wired as server.ts wires it. */
export interface ListeningApp extends AsyncDisposable {
  url: string;
  store: Store;
}

/**
 * Serves createApp over a fresh temp state on port 0 in this process, for tests that need the
 * server's own objects (`deps.onRsyncSession`); `await using` stops it, closing every connection
 * (so each tunnel session ends its rsync), and removes its state.
 */
export async function listenApp(deps: Partial<AppDeps> = {}): Promise<ListeningApp> {
  await using stack = new AsyncDisposableStack();
  const state = stack.use(serverState("soc-listen-"));
  const app = createApp({ table: state.port, store: state.store, version: "9.9.9", ...deps });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    websocket: websocket as unknown as Bun.WebSocketHandler<unknown>,
    fetch: (request) => app.handle(request),
  });
  stack.defer(() => server.stop(true));
  app.server = server;
  const owned = stack.move();
  return {
    url: `http://127.0.0.1:${server.port}`,
    store: state.store,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}
