import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { LockedError } from "../shared/errors.ts";

/** Who holds a lock: written as JSON into the lock file. */
export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** How often a waiting run looks at the lock again. */
const POLL_MS = 100;

/**
 * Takes the exclusive lock at `file` for this process; release it by disposing the result.
 * A lock left by a dead process on this host is taken over. When held, waits up to
 * `waitSeconds` (default 0), telling `onWait` once, then throws LockedError naming the holder.
 */
export async function acquireLock(file: string, waitSeconds = 0, onWait?: (message: string) => void): Promise<Disposable> {
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    if (_tryCreate(file, me)) return { [Symbol.dispose]: () => _release(file, me) };
    const holder = _readHolder(file);
    if (holder && _isStale(holder)) {
      _takeOver(file, holder);
      continue;
    }
    if (holder === undefined) continue;
    const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : "an unknown process";
    if (Date.now() >= deadline) {
      throw new LockedError(`another soc run holds the lock: ${who} (${file}); try again later or pass --wait SECONDS`);
    }
    onWait?.(`waiting up to ${waitSeconds}s for the lock held by ${who}`);
    onWait = undefined;
    await Bun.sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------

/** Creates the lock atomically: write a private file, then hard-link it into place (fails if taken). */
function _tryCreate(file: string, me: LockHolder): boolean {
  const tmp = `${file}.${me.pid}.${Math.random().toString(36).slice(2)}`;
  const fd = openSync(tmp, "wx", 0o644);
  try {
    writeSync(fd, JSON.stringify(me));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/** The holder, `null` when the file is unreadable garbage, `undefined` when it vanished. */
function _readHolder(file: string): LockHolder | null | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as LockHolder;
  } catch {
    return null;
  }
}

function _isStale(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Moves a dead holder's lock aside; if another run replaced it meanwhile, puts that one back. */
function _takeOver(file: string, stale: LockHolder): void {
  const aside = `${file}.stale.${process.pid}`;
  try {
    renameSync(file, aside);
  } catch {
    return;
  }
  const moved = _readHolder(aside);
  if (moved && (moved.pid !== stale.pid || moved.since !== stale.since)) {
    try {
      linkSync(aside, file);
    } catch {
      // Someone took the lock meanwhile; theirs stands.
    }
  }
  unlinkSync(aside);
}

function _release(file: string, me: LockHolder): void {
  const holder = _readHolder(file);
  if (holder && holder.pid === me.pid && holder.since === me.since) unlinkSync(file);
}
