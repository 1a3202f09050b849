import { dlopen, FFIType, read, type Pointer } from "bun:ffi";

/** The few libc calls soc needs that Node's fs lacks, through bun:ffi. */
export interface Libc {
  flock(fd: number, operation: number): number;
  /** syncfs(2): flushes one whole filesystem; undefined where libc has none (macOS). */
  syncfs: ((fd: number) => number) | undefined;
  /** This thread's errno, right after a failed call. */
  errno(): number;
}

/** Whether this is macOS, whose errno values and libc differ from Linux's. */
export const DARWIN = process.platform === "darwin";

let _libc: Libc | undefined;

/** libc, loaded once; throws the loader's error where it cannot be loaded (a libc other than glibc or macOS's). */
export function libc(): Libc {
  _libc ??= _open();
  return _libc;
}

// ---------------------------------------------------------------------------

function _open(): Libc {
  const fdCall = { args: [FFIType.i32], returns: FFIType.i32 } as const;
  const flock = { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } as const;
  const errnoAt = { args: [], returns: FFIType.ptr } as const;
  // glibc and macOS name the function that finds this thread's errno differently.
  if (DARWIN) {
    const lib = dlopen("libc.dylib", { flock, __error: errnoAt });
    return { flock: lib.symbols.flock, syncfs: undefined, errno: () => read.i32(lib.symbols.__error() as Pointer, 0) };
  }
  const lib = dlopen("libc.so.6", { flock, syncfs: fdCall, __errno_location: errnoAt });
  return { flock: lib.symbols.flock, syncfs: lib.symbols.syncfs, errno: () => read.i32(lib.symbols.__errno_location() as Pointer, 0) };
}
