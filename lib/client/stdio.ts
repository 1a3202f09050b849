import { fstatSync, statSync, writeSync } from "node:fs";

// The command line's own output, written straight to file descriptors 1 and 2. Touching
// process.stdout or process.stderr builds a Node stream, which costs about 25 ms of every
// command's start (measured with Bun 1.4 here); `soc status` takes about 90 ms in all.

/** A text sink that writes now, whole, in call order across stdout and stderr. */
export interface TextSink {
  write(text: string): void;
}

export const stdout: TextSink = { write: (text) => writeAll(1, text) };
export const stderr: TextSink = { write: (text) => writeAll(2, text) };

/**
 * Writes all of `text` to `fd`, waiting out a full non-blocking pipe (EAGAIN). A reader that went
 * away (EPIPE, as in `soc status | head -1`) or a descriptor that was never open (EBADF) gets
 * nothing more, and the command goes on.
 */
export function writeAll(fd: number, text: string): void {
  if (_gone.has(fd)) return;
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length;) {
    try {
      at += writeSync(fd, bytes, at);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") Bun.sleepSync(1);
      else if (code === "EPIPE" || code === "EBADF") return void _gone.add(fd);
      else throw error;
    }
  }
}

/**
 * True when `fd` is a terminal. Pipes and files (cron, scripts, tests) are told apart by fstat
 * alone; only a character device other than /dev/null loads node:tty to ask.
 */
export function isTerminal(fd: 1 | 2): boolean {
  try {
    const st = fstatSync(fd);
    if (!st.isCharacterDevice() || st.rdev === statSync("/dev/null").rdev) return false;
  } catch {
    return false;
  }
  return (require("node:tty") as typeof import("node:tty")).isatty(fd);
}

const _gone = new Set<number>();
