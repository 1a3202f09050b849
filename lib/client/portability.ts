/**
 * Names that will not sync to Windows or macOS: soc warns about them at `add` (it never refuses
 * them — a Linux-only tree may use them freely).
 */

/** Windows device names, reserved with any extension and in any case. */
const RESERVED = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$/i;
/** Characters Windows refuses in a name (and control characters). */
const BAD_CHARS = /[<>:"\\|?*\u0000-\u001f]/;

/**
 * One line per problem among `added` (the newly tracked paths), checked against all of
 * `tracked` for clashes: reserved names, refused characters, a trailing dot or space, paths that
 * differ only by case, and paths equal after Unicode normalisation (NFC/NFD).
 */
export function portabilityProblems(added: readonly string[], tracked: readonly string[]): string[] {
  const problems: string[] = [];
  for (const path of added) {
    for (const name of path.split("/")) {
      const why = _nameProblem(name);
      if (why) problems.push(`${JSON.stringify(path)}: ${JSON.stringify(name)} ${why}`);
    }
  }
  const fresh = new Set(added);
  problems.push(
    ..._clashes(tracked, fresh, (p) => p.toLowerCase(), "differ only by case (one overwrites the other on Windows and macOS)", JSON.stringify),
  );
  problems.push(
    ..._clashes(tracked, fresh, (p) => p.normalize("NFC"), "are the same after Unicode normalisation (NFC/NFD; macOS treats them as one)", _escaped),
  );
  return problems;
}

// ---------------------------------------------------------------------------

function _nameProblem(name: string): string | undefined {
  if (RESERVED.test(name)) return "is a reserved device name on Windows";
  if (BAD_CHARS.test(name)) return 'holds a character Windows refuses (<>:"\\|?* or a control character)';
  if (/[. ]$/.test(name)) return "ends in a dot or space, which Windows drops";
  return undefined;
}

/** Groups of distinct paths with the same key, reported when a group holds a newly tracked path. */
function _clashes(paths: readonly string[], fresh: Set<string>, key: (p: string) => string, why: string, show: (p: string) => string): string[] {
  const groups = new Map<string, Set<string>>();
  for (const p of paths) {
    const k = key(p);
    const group = groups.get(k) ?? new Set<string>();
    group.add(p);
    groups.set(k, group);
  }
  const out: string[] = [];
  for (const group of groups.values()) {
    if (group.size > 1 && [...group].some((p) => fresh.has(p))) out.push(`${[...group].sort().map(show).join(" and ")} ${why}`);
  }
  return out;
}

/** A path quoted with every non-ASCII character as \\u{…}, so NFC and NFD spellings look different. */
function _escaped(path: string): string {
  return `"${[...path].map((c) => (c.charCodeAt(0) > 0x7e ? `\\u{${c.codePointAt(0)?.toString(16)}}` : c)).join("")}"`;
}
