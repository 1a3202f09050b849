import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { LockedError, SocError } from "../shared/errors.ts";

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
 * once, then throws LockedError naming the holder.
 */
export async function acquireLock(file: string, waitSeconds = 0, onWait?: (message: string) => void): Promise<Disposable> {
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const deadline = Date.now() + waitSeconds * 1000;
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    while (!_tryLock(fd, file)) {
      const holder = _readHolder(file);
      const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : "an unknown process";
      if (Date.now() >= deadline) {
        throw new LockedError(`another soc run holds the lock: ${who} (${file}); try again later or pass --wait SECONDS`);
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
const DARWIN = process.platform === "darwin";
const EWOULDBLOCK = DARWIN ? 35 : 11;

let _libc: _Libc | undefined;

/** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it. */
function _tryLock(fd: number, file: string): boolean {
  _libc ??= _openLibc();
  if (_libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = _libc.errno();
  if (errno === EWOULDBLOCK) return false;
  throw new SocError("lock_failed", `cannot lock ${file} (errno ${errno}); is .soc/ on a filesystem without file locks?`);
}

interface _Libc {
  flock(fd: number, operation: number): number;
  /** This thread's errno, right after a failed call. */
  errno(): number;
}

function _openLibc(): _Libc {
  const flock = { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } as const;
  const errnoAt = { args: [], returns: FFIType.ptr } as const;
  try {
    // glibc and macOS name the function that finds this thread's errno differently.
    if (DARWIN) {
      const lib = dlopen("libc.dylib", { flock, __error: errnoAt });
      return { flock: lib.symbols.flock, errno: () => read.i32(lib.symbols.__error() as Pointer, 0) };
    }
    const lib = dlopen("libc.so.6", { flock, __errno_location: errnoAt });
    return { flock: lib.symbols.flock, errno: () => read.i32(lib.symbols.__errno_location() as Pointer, 0) };
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
