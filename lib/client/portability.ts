import { chmodSync, existsSync, lstatSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Names that will not sync to Windows or macOS: soc warns about them at `add` (it never refuses
 * them — a Linux-only tree may use them freely), and a pull on a machine whose filesystem cannot
 * hold one leaves it out, by name (unholdable).
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
  problems.sort();
  let fresh: Set<string> | undefined; // only asked about when some paths clash, which is rare
  const isFresh = (p: string) => (fresh ??= new Set(added)).has(p);
  problems.push(
    ..._clashes(tracked, isFresh, (p) => p.toLowerCase(), "differ only by case (one overwrites the other on Windows and macOS)", JSON.stringify),
  );
  // Two ASCII paths are never equal after normalisation: with none other, there is nothing to compare.
  if (tracked.some((p) => !_ASCII.test(p)))
    problems.push(
      ..._clashes(
        tracked,
        isFresh,
        // An ASCII path is its own normal form.
        (p) => (_ASCII.test(p) ? p : p.normalize("NFC")),
        "are the same after Unicode normalisation (NFC/NFD; macOS treats them as one)",
        _escaped,
      ),
    );
  return problems;
}

/**
 * Whether the filesystem holding `dir` (a directory soc may write in) keeps Unix modes: a probe
 * file made 0600, chmod-ed to 0640 and looked at again. Windows keeps none, and neither do exFAT
 * and FAT on any system (every file shows 0777, or the mount's mask, whatever chmod says). A
 * probe that cannot be made says yes, as soc did before it asked.
 */
export function keepsModes(dir: string, env: Record<string, string | undefined>): boolean {
  if (_onWindows(env)) return false;
  const probe = join(dir, `soc-mode-probe-${process.pid}`);
  try {
    writeFileSync(probe, "", { mode: 0o600 });
    chmodSync(probe, 0o640);
    return (lstatSync(probe).mode & 0o777) === 0o640;
  } catch {
    return true;
  } finally {
    rmSync(probe, { force: true });
  }
}

/** True on Windows (`SOC_TEST_FS=windows` plays it on Linux). */
function _onWindows(env: Record<string, string | undefined>): boolean {
  return env.SOC_TEST_FS === "windows" || process.platform === "win32";
}

/**
 * Whether symlinks can be made in `dir`: a probe link made and removed. Windows without the
 * privilege refuses them (EPERM), and so do filesystems without links (exFAT, FAT: ENOSYS,
 * EPERM or ENOTSUP). `SOC_TEST_FS=windows` in `env` plays the refusal, for tests on Linux.
 */
export function holdsSymlinks(dir: string, env: Record<string, string | undefined>): boolean {
  if (env.SOC_TEST_FS === "windows") return false;
  const probe = join(dir, `soc-link-probe-${process.pid}`);
  try {
    symlinkSync("soc-link-probe", probe);
    return true;
  } catch (error) {
    return !_NO_SYMLINKS.has((error as NodeJS.ErrnoException).code ?? ""); // another failure is no answer: try them
  } finally {
    rmSync(probe, { force: true });
  }
}

/** The errors of a filesystem (or an account) that cannot make symlinks. */
const _NO_SYMLINKS = new Set(["EPERM", "ENOSYS", "ENOTSUP", "EOPNOTSUPP"]);

/** What this machine's filesystem refuses: Windows' names, and two names that differ only by case. */
export interface NameLimits {
  /** Windows' rules (reserved device names, refused characters, a trailing dot or space); modes are not kept either. */
  windows: boolean;
  caseInsensitive: boolean;
}

/**
 * The limits of the filesystem holding `dir` (a directory soc may write in): Windows' rules on
 * Windows; case-insensitivity by a probe (a file made, then looked for under another case).
 * `SOC_TEST_FS=windows` in `env` plays a Windows filesystem, for tests on Linux.
 */
export function nameLimitsAt(dir: string, env: Record<string, string | undefined>): NameLimits {
  if (_onWindows(env)) return { windows: true, caseInsensitive: true };
  const name = `soc-case-probe-${process.pid}`;
  const probe = join(dir, name);
  try {
    writeFileSync(probe, "");
    return { windows: false, caseInsensitive: existsSync(join(dir, name.toUpperCase())) };
  } catch {
    return { windows: false, caseInsensitive: false };
  } finally {
    rmSync(probe, { force: true });
  }
}

/**
 * Of `incoming` (paths a pull would write), those the filesystem cannot hold under `limits`, each
 * with why: a name Windows refuses, or a path that differs only by case from another incoming one
 * or from one of `kept` (the tracked paths that stay). Every path of such a clash is named, so
 * none of them is half applied.
 */
export function unholdable(incoming: readonly string[], kept: Iterable<string>, limits: NameLimits): Map<string, string> {
  const out = new Map<string, string>();
  if (limits.windows) {
    for (const path of incoming) {
      for (const name of path.split("/")) {
        const why = _nameProblem(name);
        if (why) out.set(path, `${JSON.stringify(name)} ${why}`);
      }
    }
  }
  if (!limits.caseInsensitive) return out;
  const lower = (p: string) => p.toLowerCase();
  const wanted = new Set(incoming.map(lower));
  const incomingSet = new Set(incoming);
  for (const group of _clashGroups([...incoming, ...[...kept].filter((p) => wanted.has(lower(p)))], lower)) {
    for (const path of group) {
      if (!incomingSet.has(path) || out.has(path)) continue;
      out.set(
        path,
        `differs only by case from ${group
          .filter((p) => p !== path)
          .map((p) => JSON.stringify(p))
          .join(", ")}`,
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

const _ASCII = /^[\x00-\x7f]*$/;

function _nameProblem(name: string): string | undefined {
  if (RESERVED.test(name)) return "is a reserved device name on Windows";
  if (BAD_CHARS.test(name)) return 'holds a character Windows refuses (<>:"\\|?* or a control character)';
  if (/[. ]$/.test(name)) return "ends in a dot or space, which Windows drops";
  return undefined;
}

/** Groups of distinct paths with the same key, reported when a group holds a newly tracked path. */
function _clashes(
  paths: readonly string[],
  isFresh: (p: string) => boolean,
  key: (p: string) => string,
  why: string,
  show: (p: string) => string,
): string[] {
  const out: string[] = [];
  for (const group of _clashGroups(paths, key)) {
    if (group.some(isFresh)) out.push(`${group.sort().map(show).join(" and ")} ${why}`);
  }
  return out.sort();
}

/**
 * The groups of distinct `paths` sharing a key. One map entry per key and a list only where keys
 * collide: a million paths make no million sets.
 */
function _clashGroups(paths: Iterable<string>, key: (p: string) => string): string[][] {
  const first = new Map<string, string>();
  const groups = new Map<string, string[]>();
  for (const p of paths) {
    const k = key(p);
    const seen = first.get(k);
    if (seen === undefined) {
      first.set(k, p);
      continue;
    }
    if (seen === p) continue;
    const group = groups.get(k);
    if (!group) groups.set(k, [seen, p]);
    else if (!group.includes(p)) group.push(p);
  }
  return [...groups.values()];
}

/** A path quoted with every non-ASCII character as \\u{…}, so NFC and NFD spellings look different. */
function _escaped(path: string): string {
  return `"${[...path].map((c) => (c.charCodeAt(0) > 0x7e ? `\\u{${c.codePointAt(0)?.toString(16)}}` : c)).join("")}"`;
}
