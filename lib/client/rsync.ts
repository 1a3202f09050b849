import { RemoteError, SocError } from "../shared/errors.ts";
import { parseProgress2, type RsyncProgress } from "./progress.ts";
import { findRsync, RSYNC_CANDIDATES } from "./rsync-program.ts";

/** One rsync run copying a list of repository paths from one directory to another. */
export interface RsyncJob {
  /** Source directory (absolute; a trailing `/` is added). */
  src: string;
  /** Destination directory (absolute; a trailing `/` is added). */
  dest: string;
  /** Repository paths, relative to `src`. */
  files: readonly string[];
  /** Directory whose identical files rsync copies locally and whose blocks it reuses (`--copy-dest`). */
  basis?: string;
  /** How rsync decides a file needs sending: always (`-I`), or by checksum (`-c`). */
  compare: "always" | "checksum";
  /** The remote-shell program as an argv (`-e`); absent: rsync's default (RSYNC_RSH or ssh). */
  rsh?: readonly string[];
}

/**
 * The argv for a job (without the program name). Pure, so it is tested without rsync.
 * Names go through `--files-from=- --from0` on stdin: a name like `-e sh` or one with a
 * newline is data, never an option, and no shell ever parses it. `progress` adds progress on
 * stdout: `--info=progress2` for the whole run, or `--progress` file by file for an rsync without
 * `--info` (openrsync, rsync before 3.1). The remote side's argv is unchanged either way.
 */
export function rsyncArgs(job: RsyncJob, opts: { progress?: "whole-run" | "per-file" } = {}): string[] {
  return [
    ...(opts.progress === "whole-run" ? ["--info=progress2"] : opts.progress === "per-file" ? ["--progress"] : []),
    // -t: soc's change detection and the server's rows rely on the original mtime.
    // -p: the executable bit travels. No -r: --files-from lists every file itself.
    "-tp",
    // Directories rsync creates in a stage or download area stay writable, so their files can
    // be moved out even when the source directory is read-only.
    "--chmod=Du+rwx",
    // -I: soc already knows these files changed, and rsync's size+mtime quick check would
    // skip an edit made within the same second. -c (for --force): skip only equal content.
    job.compare === "always" ? "--ignore-times" : "--checksum",
    "--from0",
    "--files-from=-",
    ...(job.basis ? [`--copy-dest=${job.basis}`] : []),
    ...(job.rsh ? [`--rsh=${rshString(job.rsh)}`] : []),
    `${job.src.replace(/\/*$/, "")}/`,
    `${job.dest.replace(/\/*$/, "")}/`,
  ];
}

/**
 * Runs rsync for `job` (findRsync: SOC_RSYNC, else `rsync` from the tree's config, else the first
 * found). Resolves when rsync exits 0; throws SocError naming the exit status and rsync's last
 * words otherwise, or how to install rsync when it is missing. `onProgress` gets rsync's progress
 * reports, their bytes counted over the whole run.
 */
export async function runRsync(
  job: RsyncJob,
  opts: { rsync?: string; env?: Record<string, string | undefined>; onProgress?: (p: RsyncProgress) => void } = {},
): Promise<void> {
  if (job.files.length === 0) return;
  const rsync = findRsync(process.env, opts.rsync);
  if (!rsync) {
    throw new SocError(
      "rsync_missing",
      `rsync not found (SOC_RSYNC, ${RSYNC_CANDIDATES.join(", ")}, PATH); install it (Debian/Ubuntu: apt-get install rsync, or \`make tools\`), or sync without it: \`soc init URL --transport http\``,
    );
  }
  const env = opts.env ? { ...process.env, ...opts.env } : undefined;
  const { onProgress } = opts;
  const progress = onProgress ? (rsync.progress2 ? "whole-run" : "per-file") : undefined;
  const proc = Bun.spawn([rsync.path, ...rsyncArgs(job, { progress })], {
    stdin: "pipe",
    stdout: onProgress ? "pipe" : "ignore",
    stderr: "pipe",
    env,
  });
  // Read rsync's output while the file list is still going in: a full stderr or stdout pipe
  // must never stall rsync while we wait for it to take the rest of the list.
  const output = Promise.all([
    new Response(proc.stderr).text(),
    onProgress && proc.stdout instanceof ReadableStream ? _readProgress(proc.stdout, onProgress, progress === "per-file") : undefined,
  ]);
  proc.stdin.write(`${job.files.join("\0")}\0`);
  await proc.stdin.end();
  const [stderr] = await output;
  const code = await proc.exited;
  if (code !== 0) {
    // The tunnel's own line is the reliable reason (rsync's status then is 255 or 12 by race).
    const tunnel = stderr.split("\n").find((line) => line.startsWith("soc tunnel: "));
    if (tunnel) throw _tunnelError(tunnel.slice("soc tunnel: ".length));
    const last = stderr.trim().split("\n").slice(-3).join("; ");
    throw new SocError("rsync_failed", `rsync exited with status ${code}${last ? `: ${last}` : ""}`);
  }
}

/**
 * An argv as one `-e` string the way rsync splits it: on spaces, with single or double quotes
 * keeping an argument whole (rsync honours no backslashes). Throws on an argument holding both.
 */
export function rshString(argv: readonly string[]): string {
  return argv
    .map((arg) => {
      if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
      if (!arg.includes("'")) return `'${arg}'`;
      if (!arg.includes('"')) return `"${arg}"`;
      throw new SocError("bad_rsh", `cannot pass ${JSON.stringify(arg)} to rsync -e: it holds both kinds of quote`);
    })
    .join(" ");
}

// ---------------------------------------------------------------------------

/** The tunnel's own line as an error (exit 4): unauthorized, busy (a server at its cap of rsync sessions), or unreachable. */
function _tunnelError(reason: string): RemoteError {
  if (/unauthorized/.test(reason)) return new RemoteError(reason, "unauthorized");
  if (/^the server is busy\b/.test(reason)) return new RemoteError(reason, "busy", 503);
  return new RemoteError(reason);
}

/**
 * Feeds rsync's progress lines on stdout (each ended by `\r` or `\n`) to `onProgress`. Whole-run
 * lines are cumulative, so only the newest of a chunk counts. Per-file lines count one file each:
 * a line naming the transfer (`xfr#N`) ends a file, whose bytes are added to those before it.
 */
async function _readProgress(stdout: ReadableStream<Uint8Array>, onProgress: (p: RsyncProgress) => void, perFile: boolean): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  let before = 0; // per file: the bytes of the files done
  for await (const chunk of stdout) {
    const text = pending + decoder.decode(chunk, { stream: true });
    const end = Math.max(text.lastIndexOf("\r"), text.lastIndexOf("\n"));
    pending = text.slice(end + 1);
    if (perFile) {
      let latest: RsyncProgress | undefined;
      for (const line of text.slice(0, end).split(/[\r\n]/)) {
        const p = parseProgress2(line);
        if (!p) continue;
        latest = { ...p, bytes: before + p.bytes };
        if (p.transferred !== undefined) before += p.bytes;
      }
      if (latest) onProgress(latest);
      continue;
    }
    // Only the newest complete line counts (progress2 is cumulative): a clone of many files gets
    // thousands of lines a second, and parsing each cost more CPU than the transfer.
    for (let stop = end, start = end; stop > 0; stop = start) {
      start = Math.max(text.lastIndexOf("\r", stop - 1), text.lastIndexOf("\n", stop - 1));
      const p = parseProgress2(text.slice(start + 1, stop));
      if (p) {
        onProgress(p);
        break;
      }
    }
  }
}
