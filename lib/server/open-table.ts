import { openPgPort } from "./pg-port.ts";
import { openSqlitePort } from "./sqlite-port.ts";
import type { TablePort } from "./table-port.ts";

/**
 * Opens the table at `location`: a `postgres://` (or `postgresql://`) URL, else a SQLite file
 * (created with its directory when missing). Both migrate their schema first. With `commitThread`
 * (the commit worker's own connection) it neither follows the head nor checkpoints as it commits;
 * with `node` (PostgreSQL only) it is that node of a cluster's (ClusterRows in table-port.ts).
 */
export async function openTablePort(location: string, opts: { commitThread?: boolean; node?: string } = {}): Promise<TablePort> {
  if (isPostgresUrl(location)) return openPgPort(location, opts);
  if (opts.node !== undefined) throw new Error("a SQLite table serves one server: it cannot be a node of a cluster");
  return openSqlitePort(location, opts);
}

/** Whether `location` names a PostgreSQL database. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}
