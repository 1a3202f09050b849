/** The longest a long poll (`GET /v1/changes?wait=S`) may be held, in seconds: under every proxy's idle limit (nginx: 60 s). */
export const MAX_WAIT_SECONDS = 25;

/** How often the head is read again while someone waits, in case a change came without `announce`. */
const RECHECK_MS = 1_000;

/** Wakes long polls when the server's head revision moves past what they have seen. */
export interface Announcer extends Disposable {
  /** Something may have committed: reads the head and wakes every waiter it has passed. */
  announce(): void;
  /**
   * Resolves with the head as soon as it passes `since`, or after `ms` with the head as it is,
   * or at once when `signal` aborts (the client went away). Never rejects.
   */
  waitPast(since: number, ms: number, signal?: AbortSignal): Promise<number>;
  /** How many polls are held now. */
  readonly waiting: number;
}

/**
 * An announcer over `head` (the table's current revision). Commits call `announce`; a timer
 * reads the head every second while anyone waits, so a revision is never missed for long
 * whoever made it. Waiters are plain callbacks: a thousand held polls cost a thousand closures.
 */
export function createAnnouncer(head: () => number): Announcer {
  const waiters = new Set<{ since: number; wake: (head: number) => void }>();
  let timer: Timer | undefined;
  const announce = () => {
    if (waiters.size === 0) return;
    const now = head();
    for (const w of waiters) if (now > w.since) w.wake(now);
  };
  const schedule = () => {
    if (waiters.size > 0 && timer === undefined) timer = setInterval(announce, RECHECK_MS);
    if (waiters.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    announce,
    waitPast(since, ms, signal) {
      const now = head();
      if (now > since || ms <= 0 || signal?.aborted) return Promise.resolve(now);
      return new Promise<number>((resolve) => {
        const waiter = {
          since,
          wake: (at: number) => {
            clearTimeout(timeout);
            signal?.removeEventListener("abort", gone);
            waiters.delete(waiter);
            schedule();
            resolve(at);
          },
        };
        const gone = () => waiter.wake(head());
        const timeout = setTimeout(gone, ms);
        signal?.addEventListener("abort", gone, { once: true });
        waiters.add(waiter);
        schedule();
      });
    },
    get waiting() {
      return waiters.size;
    },
    [Symbol.dispose]() {
      for (const w of waiters) w.wake(head());
    },
  };
}
