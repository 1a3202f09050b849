import type { Database } from "bun:sqlite";
import type { ArgsDef } from "citty";
import { clientTokenFromEnv, colorWanted } from "../lib/client/config.ts";
import { acquireLock } from "../lib/client/lock.ts";
import { recordOutcome } from "../lib/client/outcome.ts";
import { createLogger, type Logger } from "../lib/client/log.ts";
import { createProgress, noProgress, type Progress } from "../lib/client/progress.ts";
import { findRepo, type RepoLayout } from "../lib/client/repo.ts";
import { openSession, type SyncSession } from "../lib/client/session.ts";
import { openState } from "../lib/client/state.ts";
import { isTerminal, stderr, stdout } from "../lib/client/stdio.ts";
import { UsageError } from "../lib/shared/errors.ts";

/** Flags several commands share, defined once. */
export const flags = {
  quiet: { quiet: { type: "boolean", alias: "q", description: "Print nothing on success; problems still go to stderr" } } satisfies ArgsDef,
  json: { json: { type: "boolean", description: "Print one JSON object on stdout instead of text" } } satisfies ArgsDef,
  dryRun: { "dry-run": { type: "boolean", alias: "n", description: "Show what would happen; change nothing" } } satisfies ArgsDef,
  wait: {
    wait: {
      type: "string",
      valueHint: "seconds",
      description: "If another soc run holds the lock, wait up to this long (default: fail at once, exit 5)",
    },
  } satisfies ArgsDef,
  recursive: {
    recursive: { type: "boolean", alias: ["r", "id"], description: "Act on directories and everything in them (--id: the original tool's name)" },
  } satisfies ArgsDef,
  paths: { paths: { type: "positional", required: true, description: "Files or directories, relative to the current directory" } } satisfies ArgsDef,
  remote: {
    token: { type: "string", description: "Bearer token for the server (SOC_TOKEN overrides it; stored in .soc/config.json, mode 600)" },
    transport: {
      type: "enum",
      options: ["tunnel", "ssh", "local", "http"],
      description:
        "How bytes reach the store: tunnel (rsync through the server, one token; the default), ssh (rsync over ssh, your keys), local (same filesystem), http (no rsync needed; the default when none is found)",
    },
    ssh: {
      type: "string",
      valueHint: "user@host[:/store]",
      description: "Use rsync over ssh to this host (implies --transport ssh; RSYNC_RSH and ~/.ssh/config apply)",
    },
    rsync: {
      type: "string",
      valueHint: "PATH",
      description: "The rsync program for this tree (SOC_RSYNC overrides it; default: Homebrew's rsync, then the first on PATH)",
    },
  } satisfies ArgsDef,
};

/** Parses `--wait SECONDS`; throws UsageError on anything but a non-negative number. */
export function waitSeconds(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new UsageError(`--wait takes a number of seconds, got ${JSON.stringify(value)}`);
  return n;
}

/** Parses a positive whole number given to `flag`; throws UsageError naming the flag otherwise. */
export function countArg(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a positive whole number, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * Runs `body` with the working tree containing the current directory locked (see acquireLock):
 * another soc run makes it exit 5 naming the holder, or wait up to `wait` seconds.
 */
export async function withLock<T>(opts: { wait?: string; log: Logger }, body: (layout: RepoLayout) => T | Promise<T>): Promise<T> {
  const layout = findRepo(process.cwd());
  using _lock = await acquireLock(layout.lockFile, waitSeconds(opts.wait), (m) => opts.log.warn(m));
  return await body(layout);
}

/**
 * Runs `body` with the working tree containing the current directory locked and connected to
 * its remote. The lock is released, the database closed and `progress` erased however `body`
 * ends; a message erases the bar before it is printed.
 */
export async function withSession<T>(
  opts: { quiet?: boolean; wait?: string; record?: "push" | "pull"; progress?: Progress; reattach?: boolean },
  body: (s: SyncSession) => Promise<T>,
): Promise<T> {
  const progress = opts.progress ?? noProgress;
  using _progress = { [Symbol.dispose]: () => progress.finish() };
  const log: Logger = createLogger({
    quiet: opts.quiet,
    sinks: { stdout: _erasing(progress, stdout), stderr: _erasing(progress, stderr) },
  });
  return withLock({ wait: opts.wait, log }, async (layout) => {
    using db: Database = openState(layout.dbFile);
    const record = (result: string, revision: number | null) => {
      if (opts.record) recordOutcome(db, opts.record, { at: new Date().toISOString(), result, revision });
    };
    try {
      const session = await openSession(layout, db, log, clientTokenFromEnv(process.env), { reattach: opts.reattach });
      const result = await body(session);
      const r = result as { revision?: number; conflicts?: string[] } | undefined;
      record(r?.conflicts?.length ? "conflicts" : "ok", r?.revision ?? null);
      return result;
    } catch (err) {
      record(`error: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ")}`, null);
      throw err;
    }
  });
}

/** The flags every push or pull takes. */
export const syncFlags = { ...flags.dryRun, ...flags.json, ...flags.wait, ...flags.quiet } satisfies ArgsDef;

/**
 * A push or pull from the command line: a session (see withSession) with the progress bar these
 * flags allow, and the outcome recorded for `soc status` unless it is a dry run.
 */
export function runSync<T>(
  verb: "push" | "pull",
  args: { quiet?: boolean; json?: boolean; wait?: string; "dry-run"?: boolean; reattach?: boolean },
  body: (s: SyncSession, progress: Progress) => Promise<T>,
): Promise<T> {
  const progress = _progressFor(args);
  return withSession({ ...args, record: args["dry-run"] ? undefined : verb, progress }, (s) => body(s, progress));
}

// ---------------------------------------------------------------------------

function _erasing(progress: Progress, stream: { write(text: string): unknown }): { write(text: string): unknown } {
  return {
    write(text) {
      progress.finish();
      return stream.write(text);
    },
  };
}

/**
 * The progress bar for a command's hashing and transfers, drawn on stderr: only when stdout and
 * stderr are both terminals and neither --quiet nor --json was given; coloured unless NO_COLOR.
 */
function _progressFor(opts: { quiet?: boolean; json?: boolean }): Progress {
  if (opts.quiet || opts.json || !isTerminal(1) || !isTerminal(2)) return noProgress;
  // Written at once (stdio.ts): hashing runs synchronously between updates, and a queued write would only show at its end.
  return createProgress({ write: (text) => stderr.write(text) }, { color: colorWanted(process.env, true), columns: () => process.stderr.columns });
}
