/** The migrations' advisory lock key: "soc" in ASCII, one schema change at a time across servers. */
export const PG_MIGRATION_LOCK = 0x736f63;

/** The PostgreSQL schema steps, oldest first (openPgTable applies those a database lacks): the SQLite schema's (schema.ts) tables, with a head row that hands out revisions. */
export const PG_MIGRATIONS: readonly string[] = [
  `CREATE TABLE server (id text NOT NULL);
   INSERT INTO server (id) VALUES (md5(random()::text || clock_timestamp()::text));
   CREATE TABLE head (one boolean PRIMARY KEY DEFAULT true CHECK (one), rev bigint NOT NULL);
   INSERT INTO head (one, rev) VALUES (true, 0);
   CREATE TABLE files (path text COLLATE "C" PRIMARY KEY, size bigint NOT NULL, mtime_ns bigint NOT NULL, md5 text NOT NULL,
     mode integer NOT NULL, rev bigint NOT NULL, deleted boolean NOT NULL DEFAULT false, link text);
   CREATE INDEX files_rev ON files (rev, path);
   CREATE INDEX files_content ON files (md5, size) WHERE NOT deleted;
   CREATE TABLE revisions (rev bigint PRIMARY KEY, at_ms bigint NOT NULL, client text NOT NULL,
     added integer NOT NULL, modified integer NOT NULL, deleted integer NOT NULL);
   CREATE TABLE roots (path text COLLATE "C" PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('file', 'dir', 'exclude')));
   CREATE TABLE changes (path text COLLATE "C" NOT NULL, rev bigint NOT NULL,
     action text NOT NULL CHECK (action IN ('added', 'modified', 'deleted')),
     size bigint NOT NULL, md5 text NOT NULL, mode integer NOT NULL, mtime_ns bigint NOT NULL, link text,
     PRIMARY KEY (path, rev));
   CREATE INDEX changes_rev ON changes (rev);
   CREATE TABLE versions (path text COLLATE "C" NOT NULL, rev bigint NOT NULL, replaced_by bigint NOT NULL,
     replaced_at_ms bigint NOT NULL, size bigint NOT NULL, md5 text NOT NULL, mode integer NOT NULL,
     mtime_ns bigint NOT NULL, link text, PRIMARY KEY (path, rev));
   CREATE INDEX versions_replaced_at ON versions (replaced_at_ms);
   CREATE INDEX versions_replaced_by ON versions (replaced_by);`,
  // The redo journal (journal.ts) of a server whose content is a directory: a revision whose files
  // are not all in place yet, and where its new content waits (a stage, or the kept versions).
  `CREATE TABLE journal (rev bigint PRIMARY KEY, stage text, versions jsonb);`,
  // Which content store holds the files the rows name (bindContent in table-port.ts).
  `ALTER TABLE server ADD COLUMN content text;`,
  // Content in an object store: the sha256 of a row's bytes, the key of its blob; claims and collection (schema.ts).
  `ALTER TABLE files ADD COLUMN sha256 text;
   ALTER TABLE changes ADD COLUMN sha256 text;
   ALTER TABLE versions ADD COLUMN sha256 text;
   CREATE INDEX files_sha256 ON files (sha256) WHERE sha256 IS NOT NULL;
   CREATE INDEX versions_sha256 ON versions (sha256) WHERE sha256 IS NOT NULL;
   CREATE TABLE blob_claims (sha256 text NOT NULL, stage text NOT NULL, at_ms bigint NOT NULL, PRIMARY KEY (sha256, stage));
   CREATE INDEX blob_claims_stage ON blob_claims (stage);
   CREATE TABLE blob_collecting (sha256 text PRIMARY KEY, owner text NOT NULL, at_ms bigint NOT NULL);`,
  // A cluster (ClusterRows in table-port.ts): how far each node's store directory has placed the
  // table's revisions, and which node's stage holds a journaled revision's new content.
  `CREATE TABLE nodes (node text PRIMARY KEY, placed bigint NOT NULL);
   ALTER TABLE journal ADD COLUMN node text;`,
];
