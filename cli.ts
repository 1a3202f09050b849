#!/usr/bin/env bun
import { defineCommand, renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import { EXIT, SocError, UsageError } from "./lib/errors.ts";
import { createLogger } from "./lib/log.ts";
import { quotePath } from "./lib/paths.ts";
import { createRepoDir, findRepo } from "./lib/repo.ts";
import { openState } from "./lib/state.ts";
import { scanRepo, toStatusReport } from "./lib/status.ts";
import { addPaths, removePaths } from "./lib/track.ts";
import { suggest, unknownFlags } from "./lib/usage.ts";
import pkg from "./package.json" with { type: "json" };

const quietArg = { quiet: { type: "boolean", alias: "q", description: "Print nothing on success; problems still go to stderr" } } as const;
const recursiveArg = {
  recursive: { type: "boolean", alias: ["r", "id"], description: "Act on directories and everything in them (--id: the original tool's name)" },
} as const;
const pathsArg = { paths: { type: "positional", required: true, description: "Files or directories, relative to the current directory" } } as const;

const init = defineCommand({
  meta: { name: "init", description: "Start a working tree here: create .soc/ (example: soc init)" },
  args: { ...quietArg },
  run: ({ args }) => {
    const { layout, created } = createRepoDir(process.cwd());
    openState(layout.dbFile).close();
    createLogger({ quiet: args.quiet }).info(`${created ? "Initialized" : "Reinitialized"} soc working tree in ${layout.dir}`);
  },
});

const add = defineCommand({
  meta: { name: "add", description: "Track files, or with -r directories and the files they will hold (example: soc add -r photos notes.txt)" },
  args: { ...pathsArg, ...recursiveArg, ...quietArg },
  run: ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const summary = addPaths({ cwd: process.cwd(), args: args._, recursive: args.recursive === true, log });
    log.info(`tracking ${_files(summary.tracked)} (${summary.changed} newly tracked)`);
  },
});

const rm = defineCommand({
  meta: { name: "rm", description: "Stop tracking paths; files stay on disk, and the next push deletes them on the server (example: soc rm -r build)" },
  args: { ...pathsArg, ...recursiveArg, ...quietArg },
  run: ({ args }) => {
    const log = createLogger({ quiet: args.quiet });
    const summary = removePaths({ cwd: process.cwd(), args: args._, recursive: args.recursive === true, log });
    log.info(`stopped tracking ${_files(summary.changed)}; tracking ${_files(summary.tracked)}`);
  },
});

const status = defineCommand({
  meta: { name: "status", description: "Show what the next push would send: A added, M modified, D deleted (example: soc status --json)" },
  args: {
    json: { type: "boolean", description: 'Print one JSON object {"added":[],"modified":[],"deleted":[]}' },
    verbose: { type: "boolean", alias: "v", description: "Also report on stderr how many files were scanned and hashed" },
  },
  run: async ({ args }) => {
    const log = createLogger();
    const layout = findRepo(process.cwd());
    using db = openState(layout.dbFile);
    const dirty = await scanRepo(layout, db, log);
    const report = toStatusReport(dirty);
    if (args.verbose) process.stderr.write(`scanned ${_files(dirty.files.length)}, hashed ${dirty.hashed}\n`);
    if (args.json) return void process.stdout.write(`${JSON.stringify(report)}\n`);
    const lines = [
      ...report.added.map((p) => `A ${quotePath(p)}`),
      ...report.modified.map((p) => `M ${quotePath(p)}`),
      ...report.deleted.map((p) => `D ${quotePath(p)}`),
    ];
    process.stdout.write(lines.length ? `${lines.join("\n")}\n` : `nothing to push (${_files(dirty.files.length)} tracked)\n`);
  },
});

/** Every verb; `soc_add`, `soc_push` and `soc_pull` (bin/) run these too. */
export const commands: Record<string, CommandDef<ArgsDef>> = { init, add, rm, status } as Record<string, CommandDef<ArgsDef>>;

const EXIT_HELP = `Exit codes: 0 done, 1 error, 2 usage, 3 conflicts left unresolved, 4 server unreachable or unauthorized, 5 locked by another soc run.`;

const soc = defineCommand({
  meta: { name: "soc", version: pkg.version, description: `Keep a directory in sync across machines through one small server. ${EXIT_HELP}` },
  subCommands: commands,
});

/** Runs soc with `argv` (without the program name); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const log = createLogger();
  try {
    const [first] = argv;
    if (first === "--version" || first === "-V") return _print(`soc ${pkg.version}\n`);
    const cmd = first === undefined || first.startsWith("-") ? undefined : commands[first];
    if (first !== undefined && !first.startsWith("-") && !cmd) {
      throw new UsageError(`unknown command "${first}"${suggest(first, Object.keys(commands))}; see \`soc --help\``);
    }
    const rest = argv.slice(1);
    const wantsHelp = (cmd ? _beforeDashes(rest) : argv).some((a) => a === "--help" || a === "-h");
    if (!cmd || wantsHelp) return _print(`${await renderUsage(cmd ?? soc, cmd ? soc : undefined)}\n`, cmd || wantsHelp ? 0 : EXIT.usage);
    const unknown = unknownFlags(rest, (cmd.args ?? {}) as ArgsDef);
    if (unknown) throw new UsageError(`unknown option ${unknown.flag} for \`soc ${first}\`${unknown.hint}; see \`soc ${first} --help\``);
    await runCommand(cmd, { rawArgs: rest });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
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

function _files(n: number): string {
  return `${n} file${n === 1 ? "" : "s"}`;
}

function _print(text: string, code: number = EXIT.ok): number {
  process.stdout.write(text);
  return code;
}

function _beforeDashes(args: string[]): string[] {
  const i = args.indexOf("--");
  return i < 0 ? args : args.slice(0, i);
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
