import type { ArgsDef } from "citty";

/** ` (did you mean "x"?)` for the closest candidate within a small edit distance, else "". */
export function suggest(input: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(input.length / 3)) + 1;
  for (const c of candidates) {
    const d = _distance(input, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best === undefined ? "" : ` (did you mean "${best}"?)`;
}

/**
 * The first option in `rawArgs` (before `--`) that `args` does not define, with a suggestion;
 * citty itself accepts unknown options silently. `--help`/`-h` are always known.
 */
export function unknownFlags(rawArgs: readonly string[], args: ArgsDef): { flag: string; hint: string } | undefined {
  const known = new Set(["help", "h"]);
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    known.add(name).add(_kebab(name));
    const aliases = "alias" in def && def.alias !== undefined ? [def.alias].flat() : [];
    for (const a of aliases) known.add(a);
    if (def.type === "boolean") known.add(`no-${name}`);
  }
  for (const arg of rawArgs) {
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-") continue;
    const names = arg.startsWith("--") ? [arg.slice(2).split("=")[0] as string] : [...arg.slice(1)];
    for (const name of names) {
      if (!known.has(name))
        return {
          flag: arg.startsWith("--") ? `--${name}` : `-${name}`,
          hint: suggest(
            name,
            [...known].map((k) => k),
          ),
        };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------

function _kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function _distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
