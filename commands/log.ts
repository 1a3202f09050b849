import { defineCommand } from "citty";
import { existsSync, renameSync } from "node:fs";
import { resolve } from "node:path";
import { EXIT, SocError, UsageError } from "../lib/shared/errors.ts";
import { createLogger } from "../lib/client/log.ts";
import { quotePath, toRepoPath } from "../lib/shared/paths.ts";
import type { Log } from "../lib/shared/protocol.ts";
import { pull } from "../lib/client/pull.ts";
import { findRepo } from "../lib/client/repo.ts";
import { openState } from "../lib/client/state.ts";
import { verifyTree } from "../lib/client/verify.ts";
import { files, flags, printJson, withSession } from "./_shared.ts";

export const log = defineCommand({
  meta: { name: "log", description: "List the server's revisions newest first, or one path's history (example: soc log notes/todo.txt)" },
  args: {
    path: { type: "positional", required: false, description: "A file, relative to the current directory" },
    limit: { type: "string", valueHint: "n", description: "Show at most this many revisions (default 50)" },
    ...flags.json,
  },
  run: async ({ args }) => {
    const path = args.path === undefined ? undefined : toRepoPath(findRepo(process.cwd()).top, process.cwd(), args.path);
    const limit = args.limit === undefined ? 50 : _count(args.limit, "--limit");
    const result = await withSession({}, (s) => s.remote.log({ path, limit }));
    if (args.json) return printJson(result);
    process.stdout.write(_formatLog(result));
  },
});

export const restore = defineCommand({
  meta: {
    name: "restore",
    description: "Bring back a deleted or older version, for everyone or into a local file (example: soc restore notes.txt --rev 3)",
  },
  args: {
    ...flags.paths,
    rev: {
      type: "string",
      valueHint: "n",
      description: "The content as it was at revision N (default: the last version before the current one or its deletion)",
    },
    to: { type: "string", valueHint: "file", description: "Write that content to FILE only (must not exist); nothing changes on the server" },
    ...flags.json,
    ...flags.quiet,
  },
  run: async ({ args }) => {
    const top = findRepo(process.cwd()).top;
    const paths = args._.map((a) => toRepoPath(top, process.cwd(), a));
    const rev = args.rev === undefined ? undefined : _count(args.rev, "--rev");
    const out = createLogger({ quiet: args.quiet });
    if (args.to !== undefined) {
      if (paths.length !== 1) throw new UsageError("--to takes exactly one PATH");
      const target = resolve(args.to);
      if (existsSync(target)) throw new UsageError(`${args.to}: already exists; choose a new file for --to`);
      await withSession({}, async (s) => {
        const tmp = `${target}.soc-${process.pid}.tmp`;
        await Bun.write(tmp, new Response(await s.remote.content(paths[0] as string, rev)));
        renameSync(tmp, target);
      });
      return args.json
        ? printJson({ path: paths[0], rev: rev ?? null, to: target })
        : out.info(`wrote ${quotePath(paths[0] as string)} to ${target}`);
    }
    const result = await withSession(args, async (s) => {
      const restored = await s.remote.restore({ client: s.client, paths: paths.map((path) => (rev ? { path, rev } : { path })) });
      return { ...restored, pulled: await pull(s) };
    });
    if (result.pulled.conflicts.length) process.exitCode = EXIT.conflict;
    if (args.json) return printJson(result);
    for (const r of result.restored) out.info(`restored ${quotePath(r.path)} as of revision ${r.fromRev}: now revision ${result.revision}`);
    for (const p of result.pulled.conflicts)
      out.error(`conflict: ${quotePath(p)} is modified here; the restored version is on the server (\`soc pull --keep-both\`)`);
  },
});

export const verify = defineCommand({
  meta: { name: "verify", description: "Re-hash tracked files and report content that changed behind soc's back (example: soc verify --server)" },
  args: { server: { type: "boolean", description: "Ask the server to re-hash its store against its table instead" }, ...flags.json },
  run: async ({ args }) => {
    const result = args.server
      ? await withSession({}, (s) => s.remote.verify())
      : await (async () => {
          const layout = findRepo(process.cwd());
          using db = openState(layout.dbFile);
          return verifyTree(layout, db);
        })();
    if (result.mismatches.length) process.exitCode = EXIT.error;
    if (args.json) return printJson(result);
    const where = args.server ? "on the server" : "here";
    for (const m of result.mismatches)
      process.stdout.write(
        `${quotePath(m.path)}: content differs from the last sync ${where} (expected md5 ${m.expected}, found ${m.actual ?? "no file"})\n`,
      );
    process.stdout.write(
      `checked ${files(result.checked)} ${where}: ${result.mismatches.length ? `${result.mismatches.length} damaged` : "all intact"}\n`,
    );
  },
});

// ---------------------------------------------------------------------------

function _count(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a positive whole number, got ${JSON.stringify(value)}`);
  return n;
}

function _formatLog(log: Log): string {
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
