import { stdout } from "../lib/client/stdio.ts";
import type { Logger } from "../lib/client/log.ts";
import type { PullResult } from "../lib/client/pull.ts";
import type { PushResult } from "../lib/client/push.ts";
import type { Findings } from "../lib/client/scan.ts";
import { quotePath } from "../lib/shared/paths.ts";
import { EXIT, SocError, type ExitCode } from "../lib/shared/errors.ts";
import type { Log, Verify } from "../lib/shared/protocol.ts";

/** What `soc status --json` prints: repository paths, sorted by code point; `unreadable` only when there are any. */
export interface StatusReport {
  added: string[];
  modified: string[];
  deleted: string[];
  unreadable?: { path: string; error: string }[];
}

/** `n file(s)`. */
export function files(n: number): string {
  return `${n} file${n === 1 ? "" : "s"}`;
}

/** Writes `value` as one line of JSON on stdout. */
export function printJson(value: unknown): void {
  stdout.write(`${JSON.stringify(value)}\n`);
}

/** Prints a push's outcome (text through `log`, or JSON); EXIT.conflict when it was refused. */
export function reportPush(r: PushResult, o: { json?: boolean; log: Logger; dryRun: boolean }): ExitCode {
  const code = r.conflicts.length ? EXIT.conflict : EXIT.ok;
  if (o.json) {
    printJson({ revision: r.revision, transferred: r.transferred, deleted: r.deleted, conflicts: r.conflicts });
    return code;
  }
  if (r.conflicts.length) {
    o.log.error(
      `push refused: ${files(r.conflicts.length)} changed on the server since your last pull, nothing was changed:\n` +
        r.conflicts.map((p) => `  ${quotePath(p)}\n`).join("") +
        "run `soc pull` (or `soc pull --keep-both`), resolve, then push again",
    );
  } else if (r.upToDate) o.log.info("up to date: nothing to push");
  else if (o.dryRun) o.log.info(`would push ${files(r.transferred.length)} and delete ${r.deleted.length}:\n${_list(r.transferred, r.deleted)}`);
  else o.log.info(`pushed ${files(r.transferred.length)}, deleted ${r.deleted.length}: now at revision ${r.revision}`);
  return code;
}

/** Prints a pull's (or clone's) outcome; EXIT.conflict when conflicts were left unresolved. */
export function reportPull(r: PullResult, o: { json?: boolean; log: Logger; verb: string }): ExitCode {
  const code = r.conflicts.length || r.refused.length ? EXIT.conflict : EXIT.ok;
  if (o.json) {
    printJson({
      revision: r.revision,
      transferred: r.transferred,
      deleted: r.deleted,
      conflicts: r.conflicts,
      keptBoth: r.keptBoth,
      refused: r.refused,
      linksSkipped: r.linksSkipped,
    });
    return code;
  }
  for (const p of r.conflicts)
    o.log.error(`conflict: ${quotePath(p)} changed here and on the server; yours was left alone (\`soc pull --keep-both\` keeps both)`);
  for (const { path, why } of r.refused) o.log.error(`cannot be written on this machine: ${quotePath(path)} (${why}); left on the server`);
  for (const p of r.keptBoth) o.log.warn(`kept your version as ${quotePath(p)}`);
  if (r.linksSkipped.length) o.log.warn(linksSkippedWarning(r.linksSkipped));
  if (r.transferred.length + r.deleted.length === 0 && !r.conflicts.length && !r.refused.length) o.log.info(`up to date at revision ${r.revision}`);
  else
    o.log.info(
      `${o.verb} revision ${r.revision}: ${files(r.transferred.length)} updated, ${r.deleted.length} deleted${r.conflicts.length ? `, ${r.conflicts.length} in conflict` : ""}${r.refused.length ? `, ${r.refused.length} refused` : ""}`,
    );
  return code;
}

/** The one warning for the symlinks a pull could not make here. */
export function linksSkippedWarning(paths: readonly string[]): string {
  const shown = paths.slice(0, 3).map(quotePath).join(", ");
  const more = paths.length > 3 ? ` and ${paths.length - 3} more` : "";
  return `this filesystem cannot make symlinks: skipped ${paths.length} (${shown}${more}); they stay on the server and are not deleted`;
}

/** What `soc status --json` prints of what a scan found. */
export function toStatusReport(found: Findings): StatusReport {
  const { added, modified, deleted, unreadable } = found;
  return { added, modified, deleted, ...(unreadable.length ? { unreadable } : {}) };
}

/** `soc status` lines: `A path`, `M path`, `D path`, `! path (cannot read: CODE)`, quoted where a name needs it. */
export function statusLines(report: StatusReport): string[] {
  return [
    ...report.added.map((p) => `A ${quotePath(p)}`),
    ...report.modified.map((p) => `M ${quotePath(p)}`),
    ...report.deleted.map((p) => `D ${quotePath(p)}`),
    ...(report.unreadable ?? []).map((u) => `! ${quotePath(u.path)} (cannot read: ${u.error})`),
  ];
}

/** `soc log` as text: revisions, or one path's history; throws a not_found SocError for a path without any. */
export function formatLog(log: Log): string {
  if (log.history) {
    if (!log.history.length) throw new SocError("not_found", `${log.path}: no history on the server`, { exitCode: EXIT.error });
    return log.history
      .map(
        (h) => `r${h.rev}  ${h.at}  ${h.action.padEnd(8)}  ${String(h.size).padStart(10)} B  ${h.client}${h.available ? "" : "  (no longer kept)"}\n`,
      )
      .join("");
  }
  return log.revisions.map((r) => `r${r.rev}  ${r.at}  +${r.added} ~${r.modified} -${r.deleted}  ${r.client}\n`).join("");
}

/** `soc verify` as text: one line per damaged file, then the count; `where` is "here" or "on the server". */
export function formatVerify(result: Verify, where: string): string {
  const lines = result.mismatches.map(
    (m) => `${quotePath(m.path)}: content differs from the last sync ${where} (expected md5 ${m.expected}, found ${m.actual ?? "no file"})\n`,
  );
  return `${lines.join("")}checked ${files(result.checked)} ${where}: ${result.mismatches.length ? `${result.mismatches.length} damaged` : "all intact"}\n`;
}

// ---------------------------------------------------------------------------

function _list(up: string[], del: string[]): string {
  return [...up.map((p) => `  + ${quotePath(p)}`), ...del.map((p) => `  - ${quotePath(p)}`)].join("\n");
}
