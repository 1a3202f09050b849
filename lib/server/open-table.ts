import { openPgPort } from "./pg-port.ts";
import { openSqlitePort } from "./sqlite-port.ts";
import type { TablePort } from "./table-port.ts";

/**
 * Opens the table at `location`: a `postgres://` (or `postgresql://`) URL, else a SQLite file
 * (created with its directory when missing). Both migrate their schema first. With `commitThread`
 * (the commit worker's own connection) it neither follows the head nor checkpoints as it commits.
 */
export async function openTablePort(location: string, opts: { commitThread?: boolean } = {}): Promise<TablePort> {
  return isPostgresUrl(location) ? openPgPort(location, opts) : openSqlitePort(location, opts);
}

/** Whether `location` names a PostgreSQL database. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}
