/**
 * `make typecheck` runs this: the client and the server never import each other's code.
 * - lib/shared/ imports neither side (nor commands/, handlers/ or the entry points);
 * - lib/client/ and commands/ (and cli.ts, bin/) import nothing from lib/server/ or handlers/;
 * - lib/server/ and handlers/ (and server.ts) import nothing from lib/client/ or commands/;
 * - lib/ never imports commands/ or handlers/ (the library sits below the CLI and the routes).
 * Imports are read with TypeScript's own pre-processor, so type-only and dynamic imports count too.
 * Prints each offending import and exits 1; prints nothing and exits 0 when all is well.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const ROOT = resolve(import.meta.dir, "..");

/** Where a file sits, by the folder that says which process runs it. */
type Side = "shared" | "client" | "server";

const SIDES: [prefix: string, side: Side][] = [
  ["lib/shared/", "shared"],
  ["lib/client/", "client"],
  ["commands/", "client"],
  ["bin/", "client"],
  ["cli.ts", "client"],
  ["lib/server/", "server"],
  ["handlers/", "server"],
  ["server.ts", "server"],
];

/** Which sides a file of each side may import. */
const ALLOWED: Record<Side, Side[]> = { shared: ["shared"], client: ["client", "shared"], server: ["server", "shared"] };

const problems = checkBoundary(ROOT);
for (const p of problems) console.error(p);
if (problems.length > 0) {
  console.error(`error: ${problems.length} import(s) cross the client/server boundary (see DESIGN.md "Layout")`);
  process.exit(1);
}

/** Every import under `root` that breaks the rules above, as "file: imports target (why)". */
function checkBoundary(root: string): string[] {
  const out: string[] = [];
  for (const file of _sourceFiles(root)) {
    const from = _sideOf(file);
    if (from === undefined) continue;
    const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true);
    for (const { fileName: path } of importedFiles) {
      if (!path.startsWith(".")) continue; // a package or node: builtin
      const target = relative(root, resolve(root, dirname(file), path));
      const to = _sideOf(target);
      if (to !== undefined && !ALLOWED[from].includes(to)) out.push(`${file}: imports ${target} (${from} code may not import ${to} code)`);
      else if (file.startsWith("lib/") && /^(commands|handlers)\//.test(target))
        out.push(`${file}: imports ${target} (lib/ sits below the CLI and the routes)`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

function _sideOf(file: string): Side | undefined {
  return SIDES.find(([prefix]) => (prefix.endsWith("/") ? file.startsWith(prefix) : file === prefix))?.[1];
}

function _sourceFiles(root: string): string[] {
  const top = readdirSync(root).filter((f) => f.endsWith(".ts"));
  const nested = ["lib", "commands", "handlers", "bin"].flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => `${dir}/${f}`),
  );
  return [...top, ...nested];
}
