#!/usr/bin/env bun
import { defineCommand, renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import { colorWanted } from "./lib/client/config.ts";
import { EXIT, SocError, UsageError } from "./lib/shared/errors.ts";
import { createLogger } from "./lib/client/log.ts";
import { isTerminal, stdout } from "./lib/client/stdio.ts";
import { suggest, unknownFlags } from "./lib/client/suggest.ts";
import pkg from "./package.json" with { type: "json" };

/** A command, loaded on first use: `soc status` need not load what `soc push` or `soc tunnel` import. */
type LoadCommand = () => Promise<CommandDef<ArgsDef>>;
const load =
  (of: () => Promise<{ default: unknown }>): LoadCommand =>
  async () =>
    (await of()).default as CommandDef<ArgsDef>;

/** Every verb, one file each in commands/; `soc_add`, `soc_push` and `soc_pull` (bin/) run these too. */
export const commands: Record<string, LoadCommand> = {
  init: load(() => import("./commands/init.ts")),
  clone: load(() => import("./commands/clone.ts")),
  add: load(() => import("./commands/add.ts")),
  rm: load(() => import("./commands/rm.ts")),
  status: load(() => import("./commands/status.ts")),
  push: load(() => import("./commands/push.ts")),
  pull: load(() => import("./commands/pull.ts")),
  remote: load(() => import("./commands/remote.ts")),
  log: load(() => import("./commands/log.ts")),
  restore: load(() => import("./commands/restore.ts")),
  verify: load(() => import("./commands/verify.ts")),
  schedule: load(() => import("./commands/schedule.ts")),
  watch: load(() => import("./commands/watch.ts")),
  tunnel: load(() => import("./commands/tunnel.ts")),
};

const EXIT_HELP = `Exit codes: 0 done, 1 error, 2 usage, 3 conflicts left unresolved, 4 server unreachable, unauthorized or busy, 5 locked by another soc run.`;

const soc = defineCommand({
  meta: { name: "soc", version: pkg.version, description: `Keep a directory in sync across machines through one small server. ${EXIT_HELP}` },
  subCommands: commands as Record<string, () => Promise<CommandDef<ArgsDef>>>,
});

/** Runs soc with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const [first] = argv;
    if (first === "--version" || first === "-V") return _print(`soc ${pkg.version}\n`);
    const loader = first === undefined || first.startsWith("-") ? undefined : commands[first];
    if (first !== undefined && !first.startsWith("-") && !loader) {
      throw new UsageError(`unknown command "${first}"${suggest(first, Object.keys(commands))}; see \`soc --help\``);
    }
    const cmd = await loader?.();
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
  stdout.write(text);
  return code;
}

/** citty's usage text, without colour off a terminal or under NO_COLOR, long aliases shown as `--id`. */
function _plainUsage(text: string): string {
  const plain = colorWanted(process.env, isTerminal(1)) ? text : Bun.stripANSI(text);
  return `${plain.replace(/(^|[\s,])-([a-z][a-z-]+)(?=[,\s=])/g, "$1--$2")}\n`;
}

function _beforeDashes(args: string[]): string[] {
  const i = args.indexOf("--");
  return i < 0 ? args : args.slice(0, i);
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
