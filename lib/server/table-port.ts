import { SocError } from "../shared/errors.ts";
import type { Changes, FileRow, Log, PushCommit } from "../shared/protocol.ts";
import type { Changeset } from "./changeset-plan.ts";
import type { FileContent } from "./revision.ts";

/**
 * The table, whatever engine holds it: what the handlers, the commit, the redo journal and the
 * background jobs ask of the server's rows. SQLite (sqlite-port.ts, embedded, the default) and
 * PostgreSQL (pg-port.ts, shared by several servers) answer the same questions the same way.
 */
export interface TablePort extends AsyncDisposable {
  /** Where another thread opens its own connection to this table (openTablePort), or undefined when it cannot (an in-memory database). */
  readonly location: string | undefined;
  /** The database's random id, read when it was opened: another one means another database. */
  readonly id: string;
  /**
   * Records that the content store named `content` holds the files the rows name, the first
   * time; afterwards throws SocError "content_elsewhere" for any other: a server with a store
   * of its own on a table another store serves would hand out rows whose files it lacks.
   */
  bindContent(content: string): Promise<void>;
  /** The latest revision; 0 before the first push. */
  head(): Promise<number>;
  /**
   * The newest head this server knows, at once (the long polls' announcer): exact for SQLite; for
   * PostgreSQL what the database last announced, which `onHeadMove`'s listener hears about.
   */
  knownHead(): number;
  /** Calls `listener` whenever the head moves past `knownHead` through a commit anywhere (SQLite: never; its commits are all this server's). */
  onHeadMove(listener: () => void): void;
  /** One page of the rows changed after `since` (changesSince in table.ts says how pages go). */
  changesSince(since: number, page?: { afterRev?: number; afterPath?: string; limit?: number }): Promise<Changes>;
  /** The row for `path` (live or tombstone), or undefined when the table never had it. */
  readRow(path: string): Promise<FileRow | undefined>;
  /** Revisions newest first; with `path`, its history (readLog in history.ts). */
  readLog(opts?: { path?: string; limit?: number }): Promise<Log>;
  /** What history knows of `path` as of revision `asOf` (a checked path): see ChangeAt. */
  changeAt(path: string, asOf: number): Promise<ChangeAt>;
  /** The revision that wrote the newest kept version of `path` older than its live content (or than its deletion), if any. */
  newestVersion(path: string): Promise<number | undefined>;
  /** Every live row's path, md5, revision and link (verify). */
  liveRows(): Promise<{ path: string; md5: string; rev: number; link: string | null }[]>;
  /** Up to `limit` live regular files holding content `md5` of `size` bytes (the http transport places from them). */
  pathsWithContent(md5: string, size: number, limit: number): Promise<string[]>;
  /** Of `paths` to be written, those that would sit under a live file, or over live files. */
  shapeClashes(paths: readonly string[]): Promise<string[]>;
  /**
   * Commits a changeset's rows in one transaction (commitChangeset in table.ts says what it
   * decides and throws, blobsGone included), with the journal entry naming where its new content
   * waits, when given.
   */
  commit(change: Changeset, opts: { nowMs: number; keepVersions?: boolean; source?: JournalSource }): Promise<PushCommit>;
  /** Deletes the version rows replaced before `cutoffMs` and returns them (their files are the caller's). */
  expireVersions(cutoffMs: number): Promise<{ path: string; rev: number }[]>;
  /** The redo journal's rows (journal.ts): with `cluster`, this node's. */
  readonly journal: JournalRows;
  /** Set when this server is one node of several sharing the table and an object store (PostgreSQL with --content): see ClusterRows. */
  readonly cluster?: ClusterRows;
  /** What the table knows of the object store's blobs, for garbage collection (blob-gc.ts). */
  readonly blobs: BlobRows;
  /** True while this server should run the jobs only one server may (sweeps): always for SQLite, the elected one for PostgreSQL. */
  lead(): Promise<boolean>;
  /** Copies SQLite's write-ahead log back into the database as far as no reader needs it (a no-op elsewhere). */
  checkpoint(): void;
  close(): Promise<void>;
}

/**
 * Where a revision's new content waits: a push's stage, or (a restore) the kept version of each
 * path; or, for a node of a cluster, the object store's blobs (a revision another node committed).
 */
export type JournalSource = { stage: string } | { versions: readonly { path: string; rev: number }[] } | { blobs: true };

/** A revision whose files are not all in the store yet, and where its new content waits. */
export interface JournalEntry {
  rev: number;
  source: JournalSource;
}

/** A journaled revision's file work, from its rows: the paths it writes or deletes, and the versions it keeps. */
export interface RevisionWork {
  changes: { path: string; action: "added" | "modified" | "deleted"; mode: number; link: string | null; size: number; sha256: string | null }[];
  keep: { path: string; rev: number }[];
}

/**
 * The redo journal as rows (an entry is written in the commit's own transaction, by `TablePort.commit`).
 * A node of a cluster places every revision, in order, from the one after its cursor to the head:
 * its own from their stage, the others' from the object store. Its entries are then those
 * revisions, clearing one moves its cursor, and it is pending while its cursor is behind the head.
 */
export interface JournalRows {
  /** The unfinished revisions, oldest first. */
  entries(): Promise<JournalEntry[]>;
  /** What revision `rev` changes in the store. */
  work(rev: number): Promise<RevisionWork>;
  /** Revision `rev`'s files are all in place and synced. */
  clear(rev: number): Promise<void>;
  /** Whether some revision's files are not all in place yet. */
  pending(): Promise<boolean>;
  /** The oldest revision whose files a commit starting now may leave out of the store: the oldest entry's, else the head's next. */
  firstUnplaced(): Promise<number>;
  /** Whether stage `id` still holds content of an unfinished revision (then it must not be removed). */
  holdsStage(id: string): Promise<boolean>;
}

/**
 * The blobs a push counts on before its commit (claims), and those a garbage collection is
 * deleting (marks). A claim and a mark are each made in one step serialized with the other and
 * with commits, so a blob is never both: a collection never deletes a blob a push counts on, and a
 * push never counts on a blob being deleted.
 */
export interface BlobRows {
  /** Push `stage` counts on blobs `keys` (uploads them, or finds them there) until release; returns those being deleted now, which it does not claim. */
  claim(keys: readonly string[], stage: string, nowMs: number): Promise<string[]>;
  /** Drops the claims of `stage`: its commit's rows hold its blobs now, or it was given up. */
  release(stage: string): Promise<void>;
  /**
   * Drops the claims made before `claimCutoffMs` (pushes long dead, or too slow: their commit
   * then fails, see blobsGone), then marks for collection `owner`, at `nowMs`, those of
   * `candidates` no row points at, no claim holds and no one has marked; returns them.
   */
  markGarbage(candidates: readonly string[], claimCutoffMs: number, owner: string, nowMs: number): Promise<string[]>;
  /** Takes the marks made before `staleBeforeMs` (a collection cut short) for collection `owner`, at `nowMs`; returns them. */
  takeOverMarks(owner: string, staleBeforeMs: number, nowMs: number): Promise<string[]>;
  /** Those blobs are gone from the object store. */
  unmark(keys: readonly string[]): Promise<void>;
}

/**
 * A node of a cluster: several servers, each with a store directory of its own, sharing one
 * PostgreSQL table and one object store that holds every content by sha256. Each node records how
 * far its store directory has placed the table's revisions.
 */
export interface ClusterRows {
  /** This node's id (its store's). */
  readonly node: string;
  /**
   * Binds the table to object store `content` and returns this node's cursor; a node new to the
   * table gets `{ joinAt }` instead: it places the live rows as of that revision (`liveContent`),
   * then calls `joined`. A table bound to `directory` (this very server's store directory, before
   * it joined a cluster) moves to `content` when every row names its blob; until then this
   * returns `{ unsent }` (see unsentContent). Throws SocError "content_elsewhere" for a table bound
   * to any other store, or to `directory` with a revision whose files are not all placed.
   */
  join(content: string, directory: string): Promise<{ placed: number } | { joinAt: number } | { unsent: true }>;
  /** The live rows and kept versions (regular files) whose row names no blob yet, for a server moving onto the object store. */
  unsentContent(): Promise<{ path: string; rev: number; size: number; md5: string; version: boolean }[]>;
  /** Records blob `sha256` in the rows (live, history, version) of each `path` at `rev` that name none yet. */
  recordBlobs(blobs: readonly { path: string; rev: number; sha256: string }[]): Promise<void>;
  /** This node holds every revision's files up to `rev`. */
  joined(rev: number): Promise<void>;
  /** Every live row's content, for a node joining: its path, revision, mode, size and blob, or its link. */
  liveContent(): Promise<{ path: string; rev: number; mode: number; size: number; link: string | null; sha256: string | null }[]>;
  /** The live rows of those of `paths` the table holds (any order): size and blob, or link. */
  contentOf(paths: readonly string[]): Promise<{ path: string; size: number; link: string | null; sha256: string | null }[]>;
}

/** What history knows of a path as of a revision. */
export interface ChangeAt {
  /** The latest change to the path at or before that revision, with the content it wrote (none for a deletion). */
  change?: Omit<FileContent, "path"> & { rev: number; action: "added" | "modified" | "deleted" };
  /** Without a change at or before that revision: the first revision that changed the path, if any. */
  firstRev?: number;
  /** Whether `change`'s content is the live row's. */
  current: boolean;
  /** Whether `change`'s content is still readable: live, or kept as a version. */
  kept: boolean;
}

/** The error bindContent throws when the table's files are in the store `bound`, not in `content`. */
export function contentElsewhere(bound: string, content: string): SocError {
  return new SocError(
    "content_elsewhere",
    `the files of this database's rows are in ${bound}, and this server's store is ${content}: servers sharing a database ` +
      "need one object store for their content, and a server moved to another machine needs its state directory (with its store-id) moved with its store",
  );
}

/** The error ClusterRows.join throws when the table's own store directory is behind its journal: it must finish before it moves to the object store `content`. */
export function notInObjectStore(directory: string, content: string): SocError {
  return new SocError(
    "content_elsewhere",
    `this database's rows are bound to ${directory}, and a commit's files are not all placed there yet; ` +
      `start the server once without ${content} to finish it, then with it`,
  );
}

/** The error a commit throws when `count` of the blobs it names are no longer held: its push, sent again, uploads them again. */
export function blobsGone(count: number): SocError {
  return new SocError(
    "content_gone",
    `${count} of the contents this push sent were let go by the object store's garbage collection before its commit; push again`,
    {
      status: 503,
    },
  );
}
