import { resolve } from "node:path";

/**
 * The argv that runs this soc again: `[bun, /abs/cli.ts]` from source, or just the executable
 * when soc was built with `bun build --compile` (its entry lives in Bun's virtual /$bunfs).
 */
export function selfCommand(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
  return compiled ? [process.execPath] : [process.execPath, resolve(import.meta.dir, "../..", "cli.ts")];
}
