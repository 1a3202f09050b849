import { Database } from "bun:sqlite";
import { SocError } from "./errors.ts";

/** One schema step: SQL run inside a transaction to go from version index to index+1. */
export type Migration = string;

/**
 * Opens (creating if needed) an SQLite database in WAL mode and brings its schema up to
 * date: `migrations[i]` moves `PRAGMA user_version` from i to i+1, each in one transaction.
 * `durable` syncs every commit to disk (synchronous=FULL): a commit that returned survives a
 * power loss; without it (NORMAL) the last commits may roll back then, which a cache can afford.
 * Throws SocError when the file was written by a newer soc (a higher user_version).
 */
export function openDb(file: string, migrations: readonly Migration[], opts: { readonly?: boolean; durable?: boolean } = {}): Database {
  const db = new Database(file, opts.readonly ? { readonly: true, strict: true } : { create: true, strict: true });
  db.exec("PRAGMA busy_timeout = 5000");
  if (opts.readonly) return db;
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${opts.durable ? "FULL" : "NORMAL"}`);
  db.exec("PRAGMA foreign_keys = ON");
  migrateDb(db, migrations, file);
  return db;
}

/** Applies the migrations `db` has not seen yet; see openDb. */
export function migrateDb(db: Database, migrations: readonly Migration[], label = "database"): void {
  const row = db.query("PRAGMA user_version").get() as { user_version: number };
  const current = row.user_version;
  if (current > migrations.length) {
    throw new SocError(
      "schema_too_new",
      `${label} has schema version ${current}, newer than this soc understands (${migrations.length}); upgrade soc`,
    );
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v] as string);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    })();
  }
}
