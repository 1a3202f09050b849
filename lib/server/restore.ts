import { BadInputError, NotFoundError, SocError } from "../shared/errors.ts";
import { findContent, type ContentAt } from "./history.ts";
import { ancestorPaths, checkRepoPath, comparePaths } from "../shared/paths.ts";
import type { Restore, RestoreRequest } from "../shared/protocol.ts";
import type { StoredUpsert } from "./changeset-plan.ts";
import { finishJournal, type JournalDeps } from "./journal.ts";
import type { TablePort } from "./table-port.ts";

/**
 * Makes each requested path's old content current again, in one new revision: the content as of
 * its `rev`, or by default its newest kept version before the current content (or deletion).
 * The current file, if any, becomes a version itself (unless `keepVersions` is false); the old
 * content is hard-linked into the store through the journal, as a push's files are moved (a crash
 * midway is finished when the server starts). Paths already holding that content are left alone;
 * nothing to do returns the current revision. It commits as a push does, on the rows it read: a
 * path changed meanwhile is a conflict. Throws, changing nothing: BadInputError for a bad or
 * repeated path, NotFoundError naming a path with nothing to restore, SocError "path_clash" (409)
 * when restored files would sit under a live file or over live files, ConflictError for a path
 * changed while it was read.
 */
export async function restorePaths(deps: JournalDeps, req: RestoreRequest, opts: { nowMs: number; keepVersions: boolean }): Promise<Restore> {
  const { table } = deps;
  const seen = new Set<string>();
  for (const { path } of req.paths) {
    checkRepoPath(path);
    if (seen.has(path)) throw new BadInputError(`path ${JSON.stringify(path)} appears twice in the restore request`);
    seen.add(path);
  }
  const todo: { content: ContentAt; baseRev: number }[] = [];
  for (const want of req.paths) {
    const content = await _source(deps, want.path, want.rev);
    const row = await table.readRow(want.path);
    const alive = row !== undefined && !row.deleted;
    if (content.current || (alive && row.md5 === content.md5 && row.mode === content.mode && row.link === content.link)) continue;
    todo.push({ content, baseRev: row?.rev ?? 0 });
  }
  if (todo.length === 0) return { revision: await table.head(), restored: [] };
  await _checkShape(
    table,
    todo.map((t) => t.content.path),
  );
  const upserts = todo.map(({ content: c, baseRev }): StoredUpsert => {
    const u = { path: c.path, baseRev, size: c.size, md5: c.md5, mode: c.mode, mtimeNs: c.mtimeNs };
    return { ...u, ...(c.link === undefined ? {} : { link: c.link }), ...(c.sha256 === undefined ? {} : { sha256: c.sha256 }) };
  });
  const source = { versions: todo.map((t) => ({ path: t.content.path, rev: t.content.rev })) };
  const change = { client: req.client, upserts, deletes: [], roots: { set: [], remove: [] } };
  const { revision } = await table.commit(change, { nowMs: opts.nowMs, keepVersions: opts.keepVersions, source });
  await finishJournal(deps);
  return { revision, restored: todo.map((t) => ({ path: t.content.path, fromRev: t.content.rev })) };
}

// ---------------------------------------------------------------------------

async function _source(deps: JournalDeps, path: string, rev: number | undefined): Promise<ContentAt> {
  const { table, store } = deps;
  if (rev !== undefined) return findContent(table, store, path, rev);
  const kept = await table.newestVersion(path);
  if (kept !== undefined) return findContent(table, store, path, kept);
  const known = (await table.changeAt(path, Number.MAX_SAFE_INTEGER)).change !== undefined;
  const name = JSON.stringify(path);
  throw new NotFoundError(known ? `no earlier content of ${name} is kept to restore` : `${name} has never existed on the server`);
}

async function _checkShape(table: TablePort, paths: string[]): Promise<void> {
  const restoring = new Set(paths);
  const nested = paths.filter((p) => ancestorPaths(p).some((a) => restoring.has(a)));
  const clashes = [...new Set([...(await table.shapeClashes(paths)), ...nested])].sort(comparePaths);
  if (clashes.length === 0) return;
  const list = clashes.map((p) => JSON.stringify(p)).join(", ");
  throw new SocError("path_clash", `cannot restore ${list}: a file would sit under another file, or over a directory of files`, {
    status: 409,
    details: { paths: clashes },
  });
}
