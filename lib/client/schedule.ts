import { dirname, join } from "node:path";
import { SocError, UsageError } from "../shared/errors.ts";

/** What marks soc's own crontab line for one working tree (a shell comment at its end). */
export function cronMarker(top: string): string {
  return `# soc pull ${top}`;
}

/**
 * The crontab line that pulls the tree at `top` every `every` (`15m`, `2h`, `1d`): absolute
 * paths, a PATH that finds rsync, `--quiet` so cron mails only problems, output appended to
 * `.soc/pull.log`. Overlapping runs are safe: a pull that finds the lock held exits 5 at once.
 */
export function cronLine(opts: { every: string; top: string; command: readonly string[]; rsync: string | null }): string {
  const dirs = [...new Set([opts.rsync ? dirname(opts.rsync) : undefined, dirname(opts.command[0] as string), "/usr/local/bin", "/usr/bin", "/bin"])];
  const path = dirs.filter((d): d is string => d !== undefined).join(":");
  const run = [...opts.command, "pull", "--quiet"].map(_quote).join(" ");
  return `${cronSchedule(opts.every)} cd ${_quote(opts.top)} && PATH=${_quote(path)} ${run} >> ${_quote(join(opts.top, ".soc", "pull.log"))} 2>&1 ${cronMarker(opts.top)}`;
}

/** `15m` → `*\/15 * * * *`, `2h` → `0 *\/2 * * *`, `1d` → `0 0 * * *`; UsageError otherwise. */
export function cronSchedule(every: string): string {
  const m = /^([0-9]+)([mhd])$/.exec(every);
  const n = Number(m?.[1]);
  if (m?.[2] === "m" && n >= 1 && n <= 59) return n === 1 ? "* * * * *" : `*/${n} * * * *`;
  if (m?.[2] === "h" && n >= 1 && n <= 23) return n === 1 ? "0 * * * *" : `0 */${n} * * *`;
  if ((m?.[2] === "d" && n === 1) || (m?.[2] === "h" && n === 24)) return "0 0 * * *";
  throw new UsageError(`--every ${JSON.stringify(every)}: use minutes (1m..59m), hours (1h..23h) or 1d`);
}

/** The user's crontab with soc's line for `top` removed, and `line` appended when given; then installed. */
export function writeCrontab(top: string, line: string | undefined): void {
  const current = _crontab(["-l"], "", true);
  const kept = current.split("\n").filter((l) => l !== "" && !l.endsWith(cronMarker(top)));
  _crontab(["-"], `${[...kept, ...(line ? [line] : [])].join("\n")}\n`, false);
}

// ---------------------------------------------------------------------------

/** Single-quoted for sh, with `%` escaped (cron turns a bare `%` into a newline). */
function _quote(arg: string): string {
  const quoted = /^[\w@+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
  return quoted.replaceAll("%", "\\%");
}

function _crontab(args: string[], stdin: string, emptyIfNone: boolean): string {
  if (!Bun.which("crontab")) throw new SocError("crontab_missing", "crontab not found; install cron (Debian/Ubuntu: apt-get install cron)");
  const res = Bun.spawnSync(["crontab", ...args], { stdin: new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  if (res.exitCode === 0) return res.stdout.toString();
  const err = res.stderr.toString().trim();
  if (emptyIfNone && /no crontab/i.test(err)) return "";
  throw new SocError("crontab_failed", `crontab ${args.join(" ")} failed: ${err}`);
}
