import { BadInputError, NotFoundError, SocError } from "../shared/errors.ts";
import { findContent, newestVersion, type ContentAt } from "./history.ts";
import { ancestorPaths, checkRepoPath, comparePaths } from "../shared/paths.ts";
import type { FileRow, Restore, RestoreRequest } from "../shared/protocol.ts";
import { writeRevision } from "./revision.ts";
import { finishJournal, recordJournal, type JournalDeps } from "./journal.ts";
import type { Store } from "./store.ts";
import { currentRevision, readRow, shapeClashes, type Table } from "./table.ts";

/**
 * Makes each requested path's old content current again, in one new revision: the content as of
 * its `rev`, or by default its newest kept version before the current content (or deletion).
 * The current file, if any, becomes a version itself (unless `keepVersions` is false); the old
 * content is hard-linked into the store through the journal, as a push's files are moved (a crash
 * midway is finished when the server starts). Paths already holding that content are left alone;
 * nothing to do returns the current revision. Throws, changing nothing: BadInputError for a bad
 * or repeated path, NotFoundError naming a path with nothing to restore, SocError "path_clash"
 * (409) when restored files would sit under a live file or over live files.
 */
export function restorePaths(deps: JournalDeps, req: RestoreRequest, opts: { nowMs: number; keepVersions: boolean }): Restore {
  const { table, store } = deps;
  const seen = new Set<string>();
  for (const { path } of req.paths) {
    checkRepoPath(path);
    if (seen.has(path)) throw new BadInputError(`path ${JSON.stringify(path)} appears twice in the restore request`);
    seen.add(path);
  }
  const { db } = table;
  const restore = db
    .transaction(() => {
      const todo: { content: ContentAt; live: FileRow | undefined }[] = [];
      for (const want of req.paths) {
        const content = _source(table, store, want.path, want.rev);
        const live = readRow(table, want.path);
        const alive = live !== undefined && !live.deleted;
        if (content.current || (alive && live.md5 === content.md5 && live.mode === content.mode && live.link === content.link)) continue;
        todo.push({ content, live: alive ? live : undefined });
      }
      const head = currentRevision(table);
      if (todo.length === 0) return { revision: head, restored: [] };
      _checkShape(
        table,
        todo.map((t) => t.content.path),
      );
      const rev = head + 1;
      const replaced = todo.flatMap((t) => (t.live ? [t.live] : []));
      const writes = todo.map((t) => t.content);
      writeRevision(db, { rev, nowMs: opts.nowMs, client: req.client, writes, deletes: [], replaced, keepVersions: opts.keepVersions });
      recordJournal(db, rev, { versions: todo.map((t) => ({ path: t.content.path, rev: t.content.rev })) });
      return { revision: rev, restored: todo.map((t) => ({ path: t.content.path, fromRev: t.content.rev })) };
    })
    .immediate();
  finishJournal(deps);
  return restore;
}

// ---------------------------------------------------------------------------

function _source(table: Table, store: Store, path: string, rev: number | undefined): ContentAt {
  if (rev !== undefined) return findContent(table, store, path, rev);
  const kept = newestVersion(table, path);
  if (kept !== undefined) return findContent(table, store, path, kept);
  const known = table.db.query("SELECT 1 FROM changes WHERE path = $path LIMIT 1").get({ path }) !== null;
  const name = JSON.stringify(path);
  throw new NotFoundError(known ? `no earlier content of ${name} is kept to restore` : `${name} has never existed on the server`);
}

function _checkShape(table: Table, paths: string[]): void {
  const restoring = new Set(paths);
  const nested = paths.filter((p) => ancestorPaths(p).some((a) => restoring.has(a)));
  const clashes = [...new Set([...shapeClashes(table, paths), ...nested])].sort(comparePaths);
  if (clashes.length === 0) return;
  const list = clashes.map((p) => JSON.stringify(p)).join(", ");
  throw new SocError("path_clash", `cannot restore ${list}: a file would sit under another file, or over a directory of files`, {
    status: 409,
    details: { paths: clashes },
  });
}
