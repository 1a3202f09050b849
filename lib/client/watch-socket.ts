import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RepoLayout } from "./repo.ts";

// How `soc status` asks a running `soc watch` what changed, over a unix socket in
// .soc/ (watchman's way). The question names a cookie: a file the asker has just created in
// .soc/cookies/. The daemon answers only once its watcher has seen that file appear, so the
// answer covers every change made before the question. The answer's clock changes epoch
// whenever the watcher may have missed something (a restart, an overflow, degraded mode): a
// clock from another epoch gets no list of paths, and the asker scans the whole tree.

/** Where the daemon's watcher stood: an epoch (new whenever it may have missed events) and a count of events. */
export interface WatchClock {
  epoch: string;
  tick: number;
}

/** The daemon's answer: its clock now and, for a question whose clock has this epoch, the paths with events since it. */
export interface WatchAnswer {
  clock: WatchClock;
  changed?: string[];
}

/** The question: the cookie just created, and the clock of the asker's last answer, if any. */
export interface WatchQuestion {
  cookie: string;
  since?: WatchClock;
}

/** The daemon's socket, and the directory its askers' cookies go in, below `.soc/`. */
export const WATCH_SOCKET = "watch.sock";
export const COOKIE_DIR = "cookies";

/** A unix socket's path must fit in sun_path (108 bytes on Linux, with its NUL). */
const MAX_SOCKET_PATH = 100;

/** How long an asker waits for an answer before it scans without one. */
const ASK_MS = 2_000;

/** The daemon's record of what its watcher saw, to answer questions from (see createChangeLog). */
export interface ChangeLog {
  /** A tree path had an event. */
  note(path: string): void;
  /** The watcher may have missed events (an overflow, a failure, a restart of watching): a new epoch. */
  lost(): void;
  /** A cookie file appeared. */
  cookie(name: string): void;
  /** The answer to `q` once its cookie has been seen (at most 1.5 s later); undefined when the cookie never came or `watching()` is false. */
  answer(q: WatchQuestion, watching: () => boolean): Promise<WatchAnswer | undefined>;
}

/** Paths remembered at most: past this a new epoch starts (askers then scan the whole tree once). */
const MAX_PATHS = 500_000;

/** A fresh change log, in a fresh epoch. */
export function createChangeLog(): ChangeLog {
  let epoch = _newEpoch();
  let tick = 0;
  const changedAt = new Map<string, number>();
  const cookies = new Map<string, number>(); // seen, and when: a question may come after its cookie
  const waiting = new Map<string, () => void>();
  return {
    note(path) {
      changedAt.set(path, ++tick);
      if (changedAt.size > MAX_PATHS) this.lost();
    },
    lost() {
      epoch = _newEpoch();
      changedAt.clear();
      tick++;
    },
    cookie(name) {
      const now = Date.now();
      cookies.set(name, now);
      for (const [old, at] of cookies) if (now - at > 10_000) cookies.delete(old);
      waiting.get(name)?.();
    },
    async answer(q, watching) {
      if (!cookies.has(q.cookie)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_500);
          waiting.set(q.cookie, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        waiting.delete(q.cookie);
      }
      if (!cookies.delete(q.cookie) || !watching()) return undefined;
      const clock = { epoch, tick };
      if (q.since?.epoch !== epoch) return { clock };
      const since = q.since.tick;
      const changed: string[] = [];
      for (const [path, at] of changedAt) if (at > since) changed.push(path);
      return { clock, changed };
    },
  };
}

/**
 * Serves questions on `.soc/watch.sock` (a stale socket left by a dead daemon is replaced; the
 * caller holds the daemon's lock, so no other daemon serves it). `answer` resolves to undefined
 * when the daemon cannot vouch for anything (no watcher). Undefined when the path is too long
 * for a socket: askers then scan on their own.
 */
export function serveWatchQuestions(layout: RepoLayout, answer: (q: WatchQuestion) => Promise<WatchAnswer | undefined>): Disposable | undefined {
  const path = join(layout.dir, WATCH_SOCKET);
  if (path.length > MAX_SOCKET_PATH) return undefined;
  rmSync(path, { force: true });
  mkdirSync(join(layout.dir, COOKIE_DIR), { recursive: true });
  const server = Bun.listen<{ text: string }>({
    unix: path,
    socket: {
      open(socket) {
        socket.data = { text: "" };
      },
      async data(socket, chunk) {
        socket.data.text += chunk.toString();
        const end = socket.data.text.indexOf("\n");
        if (end < 0) return;
        let reply: WatchAnswer | undefined;
        try {
          reply = await answer(_question(JSON.parse(socket.data.text.slice(0, end))));
        } catch {
          reply = undefined; // a malformed question gets no answer
        }
        socket.end(`${JSON.stringify(reply ?? null)}\n`);
      },
    },
  });
  return {
    [Symbol.dispose]: () => {
      server.stop(true);
      rmSync(path, { force: true });
    },
  };
}

/**
 * Asks the daemon watching this tree what changed since `since`: creates a cookie, sends the
 * question, removes the cookie. Undefined when no daemon answers (none runs, the socket or
 * .soc/ is not ours to use, it took over 2 s, it cannot vouch for anything).
 */
export async function askWatcher(layout: RepoLayout, since?: WatchClock): Promise<WatchAnswer | undefined> {
  const path = join(layout.dir, WATCH_SOCKET);
  // No socket, no daemon: a status without one writes no cookie.
  if (path.length > MAX_SOCKET_PATH || !existsSync(path)) return undefined;
  const cookie = `${process.pid}-${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex")}`;
  const cookieFile = join(layout.dir, COOKIE_DIR, cookie);
  try {
    writeFileSync(cookieFile, ""); // the daemon may see it before the question: it remembers cookies a while
    const reply = new Promise<string>((resolve, reject) => {
      let text = "";
      const timer = setTimeout(() => reject(new Error("no answer")), ASK_MS);
      Bun.connect({
        unix: path,
        socket: {
          open(socket) {
            socket.write(`${JSON.stringify({ cookie, ...(since ? { since } : {}) } satisfies WatchQuestion)}\n`);
          },
          data(_socket, chunk) {
            text += chunk.toString();
          },
          close() {
            clearTimeout(timer);
            resolve(text);
          },
          error(_socket, error) {
            clearTimeout(timer);
            reject(error);
          },
          connectError(_socket, error) {
            clearTimeout(timer);
            reject(error);
          },
        },
      }).catch(reject);
    });
    const answer = JSON.parse(await reply) as WatchAnswer | null;
    return answer ?? undefined;
  } catch {
    return undefined;
  } finally {
    rmSync(cookieFile, { force: true });
  }
}

// ---------------------------------------------------------------------------

function _newEpoch(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
}

/** A question from the socket, checked: a cookie name without a slash, an optional clock. */
function _question(raw: unknown): WatchQuestion {
  const q = raw as Partial<WatchQuestion>;
  if (typeof q.cookie !== "string" || !/^[\w-]{1,64}$/.test(q.cookie)) throw new Error("bad cookie");
  const since = q.since;
  if (since === undefined) return { cookie: q.cookie };
  if (typeof since.epoch !== "string" || !Number.isSafeInteger(since.tick)) throw new Error("bad clock");
  return { cookie: q.cookie, since: { epoch: since.epoch, tick: since.tick } };
}
