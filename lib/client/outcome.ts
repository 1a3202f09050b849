import type { Database } from "bun:sqlite";
import { getMeta, setMeta } from "./state.ts";

/** How one push or pull ended; kept in the state database so a silently failing cron job shows. */
export interface Outcome {
  /** ISO 8601 time the run ended. */
  at: string;
  /** `ok`, `conflicts` (exit 3) or `error: <message>`. */
  result: string;
  revision: number | null;
}

/** The last run of `verb` and the last successful one. */
export interface OutcomeRecord {
  last?: Outcome;
  lastOk?: Outcome;
}

/** Records how a push or pull ended; an `ok` outcome is also remembered as the last success. */
export function recordOutcome(db: Database, verb: "push" | "pull", outcome: Outcome): void {
  setMeta(db, `last.${verb}`, JSON.stringify(outcome));
  if (outcome.result === "ok") setMeta(db, `last.${verb}.ok`, JSON.stringify(outcome));
}

/** What recordOutcome kept for `verb`. */
export function readOutcome(db: Database, verb: "push" | "pull"): OutcomeRecord {
  const parse = (key: string) => {
    const text = getMeta(db, key);
    return text === undefined ? undefined : (JSON.parse(text) as Outcome);
  };
  return { last: parse(`last.${verb}`), lastOk: parse(`last.${verb}.ok`) };
}

/** One line for `soc status`: when `verb` last succeeded, and the failure since, if any. */
export function describeOutcome(verb: "push" | "pull", record: OutcomeRecord): string {
  const ok = record.lastOk ? `last ${verb} ${record.lastOk.at} (revision ${record.lastOk.revision})` : `no successful ${verb} yet`;
  const failed = record.last && record.last.result !== "ok" ? `; last attempt ${record.last.at}: ${record.last.result}` : "";
  return ok + failed;
}
