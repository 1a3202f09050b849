import type { Migration } from "../shared/db.ts";

/** The server database's schema steps, oldest first; `openTable` applies the ones a file lacks. */
export const SERVER_MIGRATIONS: readonly Migration[] = [
  `CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, md5 TEXT NOT NULL,
     mode INTEGER NOT NULL, rev INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
   CREATE INDEX files_rev ON files (rev);
   CREATE TABLE revisions (rev INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, client TEXT NOT NULL,
     added INTEGER NOT NULL, modified INTEGER NOT NULL, deleted INTEGER NOT NULL);
   CREATE TABLE roots (path TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'exclude'))) WITHOUT ROWID;`,
  // History: every change per revision (kept forever, so a path's log survives retention), and
  // the replaced content kept in <stateDir>/versions/<rev>/<path> until retention drops it.
  // Existing rows seed the history with the one change known for each path: live rows count as
  // added at their revision (earlier changes were never recorded), tombstones as deleted.
  `CREATE TABLE changes (path TEXT NOT NULL, rev INTEGER NOT NULL,
     action TEXT NOT NULL CHECK (action IN ('added', 'modified', 'deleted')),
     size INTEGER NOT NULL, md5 TEXT NOT NULL, mode INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
     PRIMARY KEY (path, rev)) WITHOUT ROWID;
   CREATE INDEX changes_rev ON changes (rev);
   CREATE TABLE versions (path TEXT NOT NULL, rev INTEGER NOT NULL, replaced_by INTEGER NOT NULL,
     replaced_at_ms INTEGER NOT NULL, size INTEGER NOT NULL, md5 TEXT NOT NULL, mode INTEGER NOT NULL,
     mtime_ns INTEGER NOT NULL, PRIMARY KEY (path, rev)) WITHOUT ROWID;
   CREATE INDEX versions_replaced_at ON versions (replaced_at_ms);
   INSERT INTO changes (path, rev, action, size, md5, mode, mtime_ns)
     SELECT path, rev, CASE deleted WHEN 0 THEN 'added' ELSE 'deleted' END, size, md5, mode, mtime_ns FROM files;`,
  // The database's identity: clients record it and stop when it changes (a replaced server).
  `CREATE TABLE server (id TEXT NOT NULL);
   INSERT INTO server (id) VALUES (lower(hex(randomblob(16))));`,
  // The redo journal (journal.ts): a revision whose files are not all in place yet, and where its
  // new content waits: a stage id (a push) or a JSON list of [path, rev] kept versions (a restore).
  // Its file work reads the versions it keeps by replaced_by.
  `CREATE TABLE journal (rev INTEGER PRIMARY KEY, stage TEXT, versions TEXT);
   CREATE INDEX versions_replaced_by ON versions (replaced_by);`,
  // The http transport places content the store already holds instead of receiving it: live rows by content.
  `CREATE INDEX files_content ON files (md5, size) WHERE deleted = 0;`,
  // Symlinks: a row whose content is a link holds its target (NULL for a regular file); the
  // journal replays a revision from its changes, and a restore from its versions, so both keep it.
  `ALTER TABLE files ADD COLUMN link TEXT;
   ALTER TABLE changes ADD COLUMN link TEXT;
   ALTER TABLE versions ADD COLUMN link TEXT;`,
  // Which content store holds the files the rows name (bindContent in table-port.ts).
  `ALTER TABLE server ADD COLUMN content TEXT;`,
  // Content in an object store (blob-rows.ts): the sha256 of a row's bytes, the key of its blob
  // (NULL for a symlink, and for content the server keeps only in its store directory); the blobs
  // a push uploaded or counts on until its commit (claims), and those garbage collection is deleting.
  `ALTER TABLE files ADD COLUMN sha256 TEXT;
   ALTER TABLE changes ADD COLUMN sha256 TEXT;
   ALTER TABLE versions ADD COLUMN sha256 TEXT;
   CREATE INDEX files_sha256 ON files (sha256) WHERE sha256 IS NOT NULL;
   CREATE INDEX versions_sha256 ON versions (sha256) WHERE sha256 IS NOT NULL;
   CREATE TABLE blob_claims (sha256 TEXT NOT NULL, stage TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (sha256, stage)) WITHOUT ROWID;
   CREATE INDEX blob_claims_stage ON blob_claims (stage);
   CREATE TABLE blob_collecting (sha256 TEXT PRIMARY KEY, owner TEXT NOT NULL, at_ms INTEGER NOT NULL) WITHOUT ROWID;`,
];
