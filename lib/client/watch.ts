import { watch, type FSWatcher } from "node:fs";
import { LockedError, SocError } from "../shared/errors.ts";
import type { RemoteClient } from "./api.ts";
import { pull, type PullResult } from "./pull.ts";
import { push, type PendingChange, type PushResult } from "./push.ts";
import type { SyncSession } from "./session.ts";
import type { RepoLayout } from "./repo.ts";
import { COOKIE_DIR, createChangeLog, serveWatchQuestions } from "./watch-socket.ts";

/** Where askers' cookies appear, as the watcher names them. */
const COOKIES = `.soc/${COOKIE_DIR}/`;

// `soc watch`: events are hints, the stat-first scan decides, revisions are level-triggered. The
// watcher only marks the tree dirty; a push cycle runs the ordinary push (its scan finds what
// really changed, guards included) once the tree has been quiet a while; a pull cycle runs the
// ordinary pull whenever the server announces a revision, on every (re)connect, and every few
// minutes regardless. Files a pull writes come back as events, and the scan that follows finds
// them clean: the pull recorded them in the base, so nothing is pushed back.

/** When cycles run, in ms; tests may shorten them. */
export interface WatchTiming {
  /** Quiet needed after the last event before a push. */
  quietMs: number;
  /** A push runs at the latest this long after the first event of a burst. */
  maxDelayMs: number;
  /** A file whose mtime is younger than this is left for the next push (it may still be written). */
  settleMs: number;
  /** A deletion waits this much longer than an edit, so a delete-then-recreate save is one change. */
  deleteExtraMs: number;
  /** A pull runs at least this often, announcement or not. */
  pullEveryMs: number;
  /** A full scan runs this often, for what inotify never reports (hard links, network filesystems). */
  rescanEveryMs: number;
  /** Without a working watcher (degraded), a scan runs this often. */
  degradedScanMs: number;
  /** Without a working watcher, watching is tried again this often. */
  rewatchMs: number;
  /** How long each long poll waits on the server, in seconds (at most 25). */
  pollSeconds: number;
  /** The first wait after a failure; it doubles up to 60 s, with jitter. */
  backoffMs: number;
}

export const WATCH_TIMING: WatchTiming = {
  quietMs: 2_000,
  maxDelayMs: 10_000,
  settleMs: 2_000,
  deleteExtraMs: 3_000,
  pullEveryMs: 5 * 60_000,
  rescanEveryMs: 60 * 60_000,
  degradedScanMs: 60_000,
  rewatchMs: 60 * 60_000,
  pollSeconds: 25,
  backoffMs: 1_000,
};

/** What a cycle did or met, reported once per cycle (a line, or a JSON object with --json). */
export type WatchEvent =
  | { event: "watching"; top: string; degraded: boolean; syncing: boolean }
  | { event: "push"; revision: number; transferred: string[]; deleted: string[]; held: string[] }
  | { event: "pull"; revision: number; transferred: string[]; deleted: string[]; keptBoth: string[]; linksSkipped: string[] }
  | { event: "conflict"; path: string; action: "kept-both" | "left-alone" }
  | { event: "paused"; reason: string }
  | { event: "degraded"; reason: string }
  | { event: "error"; message: string; retryInMs: number }
  | { event: "stopped" };

/** What the daemon needs from its command: the tree, how to run one locked session, and where to report. */
export interface WatchDeps {
  layout: RepoLayout;
  /** Runs `body` holding the tree's lock with a fresh session (withSession); throws LockedError when another soc run holds it. */
  session<T>(verb: "push" | "pull", body: (s: SyncSession) => Promise<T>): Promise<T>;
  /** A client for the server's long poll (no lock needed); without one (no remote), the daemon only watches, for `soc status`. */
  remote?: RemoteClient;
  /** The revision this tree has pulled up to (read again before each poll). */
  knownRevision(): number;
  /** What is tracked (watched-scan.ts trackingOf: the rules and .socignore), as text that changes when it does; read about once a second. */
  tracking(): string;
  onConflict: "keep-both" | "stop";
  report(event: WatchEvent): void;
  /** Stops the daemon: the cycle in flight finishes, then watch resolves. */
  signal: AbortSignal;
  timing?: Partial<WatchTiming>;
}

/** Runs the daemon until `deps.signal` aborts. */
export async function watchTree(deps: WatchDeps): Promise<void> {
  const t = { ...WATCH_TIMING, ...deps.timing };
  const stopped = () => deps.signal.aborted;
  // Dirty paths (relative), when each was last seen in an event; "*" after an overflow or a timer: scan everything.
  const dirty = new Map<string, number>();
  let burstStart: number | undefined;
  let lastEvent = 0;
  const missingSince = new Map<string, number>(); // tracked files a scan found missing, and when it first did
  let notBefore = 0; // after a push held something back: no push before this
  let needPull = true; // the first pull runs at once, like every (re)connect
  let wake: (() => void) | undefined;
  const nudge = () => wake?.();
  const changes = createChangeLog(); // what `soc status` is told
  const onEvent = (path: string | null) => {
    if (path !== null && path.startsWith(COOKIES)) return changes.cookie(path.slice(COOKIES.length));
    if (path !== null && (path === ".soc" || path.startsWith(".soc/"))) return;
    if (path === null)
      changes.lost(); // the kernel's queue overflowed: anything may have changed
    else {
      changes.note(path);
      missingSince.delete(path); // back, or gone again: judged afresh
    }
    markDirty(path ?? "*");
  };
  /** The next push scans `path`; "*" the whole tree. */
  const markDirty = (path: string) => {
    const now = Date.now();
    dirty.set(path, now);
    lastEvent = now;
    burstStart ??= now;
    nudge();
  };
  /** The next push scans the whole tree (what the watcher saw stays known: `soc status` may still ask it). */
  const rescan = () => markDirty("*");

  // Watching: started before the baseline scan, so nothing slips between the two.
  let watcher: FSWatcher | undefined;
  let degradedSince: number | undefined;
  const startWatching = (): boolean => {
    try {
      const w = _fsWatch(deps.layout.top, onEvent);
      w.on("error", (error) => {
        w.close();
        if (watcher === w) watcher = undefined;
        degrade(error);
      });
      watcher = w;
      if (degradedSince !== undefined) changes.lost(); // what happened while nothing watched is unknown
      degradedSince = undefined;
      return true;
    } catch (error) {
      degrade(error);
      return false;
    }
  };
  let toldDegraded = false;
  const degrade = (error: unknown) => {
    degradedSince ??= Date.now();
    changes.lost();
    rescan();
    if (toldDegraded) return;
    toldDegraded = true;
    deps.report({ event: "degraded", reason: _watchFailure(error, t.degradedScanMs) });
  };
  startWatching();
  using _served = serveWatchQuestions(deps.layout, (q) => changes.answer(q, () => watcher !== undefined));
  deps.report({ event: "watching", top: deps.layout.top, degraded: watcher === undefined, syncing: deps.remote !== undefined });
  dirty.set("*", Date.now()); // the baseline scan
  burstStart = 0;

  // Pulls: announced by the server's long poll, on every (re)connect, and every pullEveryMs.
  const { remote } = deps;
  const polls = _pollLoop(remote, deps, t, () => {
    needPull = true;
    nudge();
  });
  let lastPull = 0;
  let lastScan = Date.now();
  let lastTick = Date.now();
  let failures = 0;
  let retryAt = 0;
  let pausedFor: string | undefined;
  const reported = new Set<string>(); // conflicts already told, so each is reported once
  let tracking = deps.tracking(); // `soc add` and `soc rm` change it without touching a file: then scan everything
  const onAbort = () => nudge();
  deps.signal.addEventListener("abort", onAbort);
  try {
    while (!stopped()) {
      const now = Date.now();
      // A jump of the wall clock (a laptop that slept): reconnect, pull and rescan.
      if (now - lastTick > t.quietMs + 30_000) {
        needPull = true;
        rescan();
      }
      lastTick = now;
      if (now - lastPull >= t.pullEveryMs) needPull = true;
      const nowTracking = deps.tracking();
      if (nowTracking !== tracking) {
        tracking = nowTracking;
        rescan();
      }
      if (now - lastScan >= (watcher ? t.rescanEveryMs : t.degradedScanMs)) {
        lastScan = now; // one scan asked for per interval (the push that runs it notes it too)
        rescan();
      }
      if (!watcher && degradedSince !== undefined && now - degradedSince >= t.rewatchMs && startWatching()) toldDegraded = false;
      const pushDue = dirty.size > 0 && now >= notBefore && (now - lastEvent >= t.quietMs || now - (burstStart ?? now) >= t.maxDelayMs);
      if (!remote) dirty.clear(); // nothing to push to: only the change log (for `soc status`) matters
      if (remote && now >= retryAt && (needPull || pushDue)) {
        try {
          if (needPull) {
            needPull = false;
            lastPull = now;
            _reportPull(deps, await deps.session("pull", (s) => pull(s, { keepBoth: deps.onConflict === "keep-both" })), reported);
          }
          if (pushDue && !stopped()) {
            const seen = new Map(dirty);
            dirty.clear();
            burstStart = undefined;
            if (seen.has("*")) lastScan = now;
            // The paths the watcher named; the whole tree after an overflow, a failure, on the
            // timer, or when what is tracked changed (`soc add`, `soc rm`, .socignore: `tracking`).
            const only = seen.has("*") ? undefined : [...seen.keys()];
            // A deletion is judged by its latest event, this cycle's or one that came while it scanned,
            // and by when a scan first found the file missing: an event may still be on its way.
            const lastSeen = (path: string) => dirty.get(path) ?? seen.get(path);
            const hold = _holdFor(lastSeen, missingSince, t);
            const result = await deps.session("push", (s) => push(s, { hold, ...(only ? { only } : {}) }));
            for (const path of result.deleted) missingSince.delete(path);
            pausedFor = undefined;
            if (_reportPush(deps, result, reported)) needPull = true; // conflicts: the pull keeps both, the next push goes on
            // Held back (still being written, or a fresh deletion): looked at again after another quiet spell.
            for (const path of result.held ?? []) if (!dirty.has(path)) dirty.set(path, seen.get(path) ?? Date.now());
            if (result.held?.length) {
              notBefore = Date.now() + t.quietMs;
              burstStart ??= Date.now();
            }
          }
          failures = 0;
        } catch (error) {
          if (error instanceof SocError && (error.code === "root_vanished" || error.code === "mass_delete")) {
            // A guard: pushing pauses, saying why once; it is tried again at the next change.
            if (pausedFor !== error.message) deps.report({ event: "paused", reason: error.message });
            pausedFor = error.message;
          } else {
            needPull = true;
            if (!(error instanceof LockedError)) failures++;
            const wait = error instanceof LockedError ? 1_000 : _backoff(t.backoffMs, failures);
            retryAt = Date.now() + wait;
            if (!(error instanceof LockedError))
              deps.report({ event: "error", message: error instanceof Error ? error.message : String(error), retryInMs: wait });
            rescan(); // what this cycle meant to push is looked at again
          }
        }
        continue;
      }
      const until = Math.max(10, Math.min(1_000, retryAt > now ? retryAt - now : notBefore > now ? notBefore - now : 1_000));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, until);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    deps.signal.removeEventListener("abort", onAbort);
    watcher?.close();
    await polls;
    deps.report({ event: "stopped" });
  }
}

// ---------------------------------------------------------------------------

function _fsWatch(top: string, onEvent: (path: string | null) => void): FSWatcher {
  return watch(top, { recursive: true }, (_kind, name) => onEvent(name === null ? null : String(name)));
}

/**
 * What to keep out of a push: a file written less than settleMs ago; a deletion whose last event
 * (`lastSeen`) is less than quiet + extra old, or that a scan first found less than that long ago
 * (`missingSince`, noted here): a delete-then-recreate save, or a checkout caught half-way, is no deletion.
 */
function _holdFor(
  lastSeen: (path: string) => number | undefined,
  missingSince: Map<string, number>,
  t: WatchTiming,
): (change: PendingChange) => boolean {
  return (change) => {
    const now = Date.now();
    if (change.mtimeNs !== undefined) return now - Number(change.mtimeNs / 1_000_000n) < t.settleMs;
    const wait = t.quietMs + t.deleteExtraMs;
    const first = missingSince.get(change.path) ?? now;
    missingSince.set(change.path, first);
    const at = lastSeen(change.path);
    return now - first < wait || (at !== undefined && now - at < wait);
  };
}

/**
 * Long polls the server until stopped, calling `onChange` when it announces a revision after the
 * last one seen (pulled, or announced: a pull that leaves a conflict behind is not asked again and
 * again), and after every reconnect.
 */
async function _pollLoop(remote: RemoteClient | undefined, deps: WatchDeps, t: WatchTiming, onChange: () => void): Promise<void> {
  let failures = 0;
  let seen = 0;
  while (remote && !deps.signal.aborted) {
    try {
      const since = Math.max(seen, deps.knownRevision());
      const answer = await remote.waitForChange(since, t.pollSeconds, deps.signal);
      if (failures > 0 || answer.head !== since) onChange(); // back after a failure: pull, whatever the answer
      // A head below what this tree knows is another server: the pull says so.
      seen = answer.head < since ? 0 : answer.head;
      failures = 0;
    } catch {
      if (deps.signal.aborted) return;
      failures++;
      await _sleep(_backoff(t.backoffMs, failures), deps.signal);
    }
  }
}

/** 1, 2, 4 … up to 60 times `base`… capped at 60 s, each with up to a quarter of jitter. */
function _backoff(base: number, failures: number): number {
  const ms = Math.min(60_000, base * 2 ** Math.max(0, failures - 1));
  return Math.round(ms * (0.75 + Math.random() * 0.25));
}

function _sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Reports a push; true when it met conflicts (a pull resolves them first). */
function _reportPush(deps: WatchDeps, r: PushResult, reported: Set<string>): boolean {
  if (!r.upToDate && r.conflicts.length === 0) {
    deps.report({ event: "push", revision: r.revision, transferred: r.transferred, deleted: r.deleted, held: r.held ?? [] });
  }
  for (const path of r.conflicts) _conflict(deps, path, reported);
  return r.conflicts.length > 0;
}

function _reportPull(deps: WatchDeps, r: PullResult, reported: Set<string>): void {
  if (r.transferred.length + r.deleted.length + r.keptBoth.length + r.linksSkipped.length > 0) {
    const { revision, transferred, deleted, keptBoth, linksSkipped } = r;
    deps.report({ event: "pull", revision, transferred, deleted, keptBoth, linksSkipped });
  }
  for (const path of r.conflicts) _conflict(deps, path, reported);
}

function _conflict(deps: WatchDeps, path: string, reported: Set<string>): void {
  if (reported.has(path)) return;
  reported.add(path);
  deps.report({ event: "conflict", path, action: deps.onConflict === "keep-both" ? "kept-both" : "left-alone" });
}

/** Why watching failed, and what to do: ENOSPC is the inotify watch limit. */
function _watchFailure(error: unknown, scanMs: number): string {
  const code = (error as NodeJS.ErrnoException).code;
  const every = `scanning every ${Math.round(scanMs / 1000)} s instead`;
  if (code === "ENOSPC" || code === "EMFILE") {
    return `cannot watch the tree: the inotify watch limit is too low (${code}); ${every}. Raise it, e.g. \`sudo sysctl fs.inotify.max_user_watches=524288\` (one watch per directory)`;
  }
  return `cannot watch the tree (${error instanceof Error ? error.message : String(error)}); ${every}`;
}
