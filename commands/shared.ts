import type { Database } from "bun:sqlite";
import type { ArgsDef } from "citty";
import { clientTokenFromEnv } from "../lib/config.ts";
import { acquireLock } from "../lib/lock.ts";
import { recordOutcome } from "../lib/outcome.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { findRepo } from "../lib/repo.ts";
import { openSession, type SyncSession } from "../lib/session.ts";
import { openState } from "../lib/state.ts";
import { UsageError } from "../lib/errors.ts";

/** Flags several commands share, defined once. */
export const flags = {
  quiet: { quiet: { type: "boolean", alias: "q", description: "Print nothing on success; problems still go to stderr" } } satisfies ArgsDef,
  json: { json: { type: "boolean", description: "Print one JSON object on stdout instead of text" } } satisfies ArgsDef,
  dryRun: { "dry-run": { type: "boolean", alias: "n", description: "Show what would happen; change nothing" } } satisfies ArgsDef,
  wait: {
    wait: { type: "string", valueHint: "seconds", description: "If another soc run holds the lock, wait up to this long (default: fail at once, exit 5)" },
  } satisfies ArgsDef,
  recursive: {
    recursive: { type: "boolean", alias: ["r", "id"], description: "Act on directories and everything in them (--id: the original tool's name)" },
  } satisfies ArgsDef,
  paths: { paths: { type: "positional", required: true, description: "Files or directories, relative to the current directory" } } satisfies ArgsDef,
  remote: {
    token: { type: "string", description: "Bearer token for the server (SOC_TOKEN overrides it; stored in .soc/config.json, mode 600)" },
    transport: {
      type: "enum",
      options: ["tunnel", "ssh", "local"],
      description: "How bytes reach the store: tunnel (rsync through the server, one token; the default), ssh (rsync over ssh, your keys), local (same filesystem)",
    },
    ssh: { type: "string", valueHint: "user@host[:/store]", description: "Use rsync over ssh to this host (implies --transport ssh; RSYNC_RSH and ~/.ssh/config apply)" },
  } satisfies ArgsDef,
};

/** `n file(s)`. */
export function files(n: number): string {
  return `${n} file${n === 1 ? "" : "s"}`;
}

/** Parses `--wait SECONDS`; throws UsageError on anything but a non-negative number. */
export function waitSeconds(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new UsageError(`--wait takes a number of seconds, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * Runs `body` with the working tree containing the current directory locked and connected to
 * its remote. The lock is released and the database closed however `body` ends.
 */
export async function withSession<T>(
  opts: { quiet?: boolean; wait?: string; record?: "push" | "pull" },
  body: (s: SyncSession) => Promise<T>,
): Promise<T> {
  const log: Logger = createLogger({ quiet: opts.quiet });
  const layout = findRepo(process.cwd());
  using _lock = await acquireLock(layout.lockFile, waitSeconds(opts.wait), (m) => log.warn(m));
  using db: Database = openState(layout.dbFile);
  const record = (result: string, revision: number | null) => {
    if (opts.record) recordOutcome(db, opts.record, { at: new Date().toISOString(), result, revision });
  };
  try {
    const session = await openSession(layout, db, log, clientTokenFromEnv(process.env));
    const result = await body(session);
    const r = result as { revision?: number; conflicts?: string[] };
    record(r.conflicts?.length ? "conflicts" : "ok", r.revision ?? null);
    return result;
  } catch (err) {
    record(`error: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ")}`, null);
    throw err;
  }
}

/** Writes `value` as one line of JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
