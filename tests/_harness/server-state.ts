import { join } from "node:path";
import { openStore, type Store } from "../../lib/server/store.ts";
import { openTable, type Table } from "../../lib/server/table.ts";
import { tempDir } from "./fs.ts";

/** A server's store and table, no process: `dir/store`, `dir/state`, `dir/state/soc.db`. */
export interface ServerState extends Disposable {
  /** The temp dir holding it all. */
  dir: string;
  store: Store;
  table: Table;
}

/** Opens a ServerState in a fresh temp dir named `prefix…`; `using` closes the table and removes the dir, also when opening fails halfway. */
export function serverState(prefix = "soc-state-"): ServerState {
  using stack = new DisposableStack();
  const dir = stack.use(tempDir(prefix)).path;
  const store = openStore(join(dir, "store"), { stateDir: join(dir, "state") });
  const table = stack.use(openTable(join(dir, "state", "soc.db")));
  const owned = stack.move();
  return { dir, store, table, [Symbol.dispose]: () => owned.dispose() };
}
