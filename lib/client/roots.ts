import { comparePaths, isWithin } from "../shared/paths.ts";

/** How a rule treats its path: a tracked file, a tracked directory (recursive), or excluded. */
export type RootKind = "file" | "dir" | "exclude";

/** One tracked-root rule; the rule at a path or its nearest ancestor governs that path. */
export interface RootRule {
  path: string;
  kind: RootKind;
}

/** The rule at `path` itself or at its nearest ancestor ("" is the top). */
export function governingRule(rules: readonly RootRule[], path: string): RootRule | undefined {
  return _governing(new Map(rules.map((r) => [r.path, r])), path);
}

/** True when a file at `path` is tracked by `rules`. */
export function isTracked(rules: readonly RootRule[], path: string): boolean {
  return trackerFor(rules)(path);
}

/** `isTracked` for many paths against one rule set: the rules are indexed once. */
export function trackerFor(rules: readonly RootRule[]): (path: string) => boolean {
  const byPath = new Map(rules.map((r) => [r.path, r]));
  return (path) => {
    const rule = _governing(byPath, path);
    return rule !== undefined && rule.kind !== "exclude";
  };
}

/** Rules where a walk starts: tracking rules not already covered by a tracked ancestor directory. */
export function walkStarts(rules: readonly RootRule[]): RootRule[] {
  return normalizeRules(rules).filter((r) => r.kind !== "exclude");
}

/**
 * The rules at or beneath a directory (whether it holds tracked files), for many directories
 * against one rule set: the rules are sorted once, and each directory's are one range of them.
 */
export function rulesWithin(rules: readonly RootRule[]): (dir: string) => RootRule[] {
  const sorted = [...rules].sort((a, b) => comparePaths(a.path, b.path));
  const from = (path: string) => {
    let lo = 0;
    for (let hi = sorted.length; lo < hi;) {
      const mid = (lo + hi) >> 1;
      if (comparePaths((sorted[mid] as RootRule).path, path) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return (dir) => {
    if (dir === "") return [...sorted];
    const at = from(dir);
    const out = sorted[at]?.path === dir ? [sorted[at] as RootRule] : [];
    // Paths beneath dir sort together, right after "dir/".
    for (let i = from(`${dir}/`); i < sorted.length && (sorted[i] as RootRule).path.startsWith(`${dir}/`); i++) out.push(sorted[i] as RootRule);
    return out;
  };
}

/**
 * Sets the rule at `path` to `kind`. With `replaceBelow` (a recursive add or remove), rules
 * beneath `path` are dropped first. Returns the normalized rule set; `rules` is not modified.
 */
export function setRule(rules: readonly RootRule[], path: string, kind: RootKind, replaceBelow: boolean): RootRule[] {
  const kept = rules.filter((r) => r.path !== path && !(replaceBelow && isWithin(r.path, path)));
  return normalizeRules([...kept, { path, kind }]);
}

/**
 * Drops redundant rules (a tracking rule under a tracked directory, an exclude with nothing
 * tracked above it) and sorts by path, so equal meanings have equal rule sets.
 */
export function normalizeRules(rules: readonly RootRule[]): RootRule[] {
  const sorted = [...rules].sort((a, b) => _depth(a.path) - _depth(b.path) || comparePaths(a.path, b.path));
  const kept: RootRule[] = [];
  const keptByPath = new Map<string, RootRule>(); // indexed as it grows: one lookup per rule, not one map
  for (const rule of sorted) {
    const parent = _parent(rule.path);
    const above = parent === undefined ? undefined : _governing(keptByPath, parent);
    const trackedAbove = above?.kind === "dir";
    if (rule.kind === "exclude" ? trackedAbove : !trackedAbove) {
      kept.push(rule);
      keptByPath.set(rule.path, rule);
    }
  }
  return kept.sort((a, b) => comparePaths(a.path, b.path));
}

// ---------------------------------------------------------------------------

function _governing(byPath: ReadonlyMap<string, RootRule>, path: string): RootRule | undefined {
  for (let p: string | undefined = path; p !== undefined; p = _parent(p)) {
    const rule = byPath.get(p);
    if (rule && (rule.kind !== "file" || p === path)) return rule;
  }
  return undefined;
}

function _parent(path: string): string | undefined {
  if (path === "") return undefined;
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function _depth(path: string): number {
  return path === "" ? 0 : path.split("/").length;
}
