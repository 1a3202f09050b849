import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { LockedError, SocError } from "../shared/errors.ts";
import { DARWIN, libc, type Libc } from "../shared/libc.ts";

/** Who holds a lock: written as JSON into the lock file while it is held. */
export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** How often a waiting run tries the lock again. */
const POLL_MS = 100;

/**
 * Takes the exclusive lock on `file` (created if missing) for this process; dispose the result to
 * release it. It is a kernel lock (flock(2)) on the open file, so it ends when its holder ends,
 * however that happens: a dead holder never keeps it, whether its pid was reused, the machine
 * rebooted, or several runs race for it. While held, the file names the holder (pid, host,
 * since). When another run holds it, waits up to `waitSeconds` (default 0), telling `onWait`
 * once, then throws LockedError naming the holder, in the words of `held` when given.
 */
export async function acquireLock(
  file: string,
  waitSeconds = 0,
  onWait?: (message: string) => void,
  held: (who: string) => string = (who) => `another soc run holds the lock: ${who} (${file}); try again later or pass --wait SECONDS`,
): Promise<Disposable> {
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const deadline = Date.now() + waitSeconds * 1000;
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    while (!_tryLock(fd, file)) {
      const holder = _readHolder(file);
      const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : "an unknown process";
      if (Date.now() >= deadline) {
        throw new LockedError(held(who));
      }
      onWait?.(`waiting up to ${waitSeconds}s for the lock held by ${who}`);
      onWait = undefined;
      await Bun.sleep(POLL_MS);
    }
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  ftruncateSync(fd, 0);
  writeSync(fd, JSON.stringify(me), 0);
  return {
    [Symbol.dispose]: () => {
      ftruncateSync(fd, 0); // nobody holds it: nothing to name
      closeSync(fd); // closing the last descriptor releases the flock
    },
  };
}

// ---------------------------------------------------------------------------

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = DARWIN ? 35 : 11;

/** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it. */
function _tryLock(fd: number, file: string): boolean {
  const c = _libc();
  if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = c.errno();
  if (errno === EWOULDBLOCK) return false;
  throw new SocError("lock_failed", `cannot lock ${file} (errno ${errno}); is .soc/ on a filesystem without file locks?`);
}

function _libc(): Libc {
  try {
    return libc();
  } catch (error) {
    throw new SocError("lock_failed", `cannot load libc's flock to lock the working tree: ${(error as Error).message}`);
  }
}

/** The holder written in the lock file, or null when it names none (free, or being rewritten). */
function _readHolder(file: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LockHolder;
  } catch {
    return null;
  }
}
