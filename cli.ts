#!/usr/bin/env bun
import { defineCommand, renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import add from "./commands/add.ts";
import clone from "./commands/clone.ts";
import init from "./commands/init.ts";
import log from "./commands/log.ts";
import pull from "./commands/pull.ts";
import push from "./commands/push.ts";
import remote from "./commands/remote.ts";
import restore from "./commands/restore.ts";
import rm from "./commands/rm.ts";
import schedule from "./commands/schedule.ts";
import status from "./commands/status.ts";
import tunnel from "./commands/tunnel.ts";
import verify from "./commands/verify.ts";
import { colorWanted } from "./lib/client/config.ts";
import { EXIT, SocError, UsageError } from "./lib/shared/errors.ts";
import { createLogger } from "./lib/client/log.ts";
import { suggest, unknownFlags } from "./lib/client/suggest.ts";
import pkg from "./package.json" with { type: "json" };

/** Every verb, one file each in commands/; `soc_add`, `soc_push` and `soc_pull` (bin/) run these too. */
export const commands: Record<string, CommandDef<ArgsDef>> = {
  init,
  clone,
  add,
  rm,
  status,
  push,
  pull,
  remote,
  log,
  restore,
  verify,
  schedule,
  tunnel,
} as Record<string, CommandDef<ArgsDef>>;

const EXIT_HELP = `Exit codes: 0 done, 1 error, 2 usage, 3 conflicts left unresolved, 4 server unreachable, unauthorized or busy, 5 locked by another soc run.`;

const soc = defineCommand({
  meta: { name: "soc", version: pkg.version, description: `Keep a directory in sync across machines through one small server. ${EXIT_HELP}` },
  subCommands: commands,
});

/** Runs soc with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const [first] = argv;
    if (first === "--version" || first === "-V") return _print(`soc ${pkg.version}\n`);
    const cmd = first === undefined || first.startsWith("-") ? undefined : commands[first];
    if (first !== undefined && !first.startsWith("-") && !cmd) {
      throw new UsageError(`unknown command "${first}"${suggest(first, Object.keys(commands))}; see \`soc --help\``);
    }
    const rest = argv.slice(1);
    const wantsHelp = (cmd ? _beforeDashes(rest) : argv).some((a) => a === "--help" || a === "-h");
    if (!cmd || wantsHelp) return _print(_plainUsage(await renderUsage(cmd ?? soc, cmd ? soc : undefined)), cmd || wantsHelp ? 0 : EXIT.usage);
    const unknown = unknownFlags(rest, (cmd.args ?? {}) as ArgsDef);
    if (unknown) throw new UsageError(`unknown option ${unknown.flag} for \`soc ${first}\`${unknown.hint}; see \`soc ${first} --help\``);
    const { result } = await runCommand(cmd, { rawArgs: rest });
    return typeof result === "number" ? result : EXIT.ok;
  } catch (err) {
    const log = createLogger();
    if (err instanceof SocError) {
      log.error(err.message);
      return err.exitCode;
    }
    if (err instanceof Error && err.name === "CLIError") {
      log.error(`${err.message}; see \`soc ${argv[0] ?? ""} --help\``);
      return EXIT.usage;
    }
    log.error(err instanceof Error ? err.message : String(err));
    return EXIT.error;
  }
}

// ---------------------------------------------------------------------------

function _print(text: string, code: number = EXIT.ok): number {
  process.stdout.write(text);
  return code;
}

/** citty's usage text, without colour off a terminal or under NO_COLOR, long aliases shown as `--id`. */
function _plainUsage(text: string): string {
  const plain = colorWanted(process.env, process.stdout.isTTY) ? text : Bun.stripANSI(text);
  return `${plain.replace(/(^|[\s,])-([a-z][a-z-]+)(?=[,\s=])/g, "$1--$2")}\n`;
}

function _beforeDashes(args: string[]): string[] {
  const i = args.indexOf("--");
  return i < 0 ? args : args.slice(0, i);
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
