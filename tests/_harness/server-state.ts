import { join } from "node:path";
import { openStore, type Store } from "../../lib/server/store.ts";
import { sqlitePort } from "../../lib/server/sqlite-port.ts";
import type { TablePort } from "../../lib/server/table-port.ts";
import { openTable, type Table } from "../../lib/server/table.ts";
import { tempDir } from "./fs.ts";

/** A server's store and table, no process: `dir/store`, `dir/state`, `dir/state/soc.db`. */
export interface ServerState extends Disposable {
  /** The temp dir holding it all. */
  dir: string;
  store: Store;
  /** The SQLite table itself, for a test's direct reads. */
  table: Table;
  /** The same table as the server's code sees it (the table port). */
  port: TablePort;
}

/** Opens a ServerState in a fresh temp dir named `prefix…`; `using` closes the table and removes the dir, also when opening fails halfway. */
export function serverState(prefix = "soc-state-"): ServerState {
  using stack = new DisposableStack();
  const dir = stack.use(tempDir(prefix)).path;
  const store = openStore(join(dir, "store"), { stateDir: join(dir, "state") });
  const table = stack.use(openTable(join(dir, "state", "soc.db")));
  const owned = stack.move();
  return { dir, store, table, port: sqlitePort(table), [Symbol.dispose]: () => owned.dispose() };
}
