import { isAbsolute, relative, resolve, sep } from "node:path";
import { BadInputError, UsageError } from "./errors.ts";

/** Longest repository path we accept, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest single name, in UTF-8 bytes (NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/** The name of soc's state directory; no repository path holds it as a segment. */
const SOC_SEGMENT = ".soc";

const encoder = new TextEncoder();

/**
 * Checks a repository path that came from outside (a client, the network, a database):
 * relative, `/`-separated, no empty, `.` or `..` segment, no NUL, bounded length, and no `.soc`
 * segment at any depth (a planted `sub/.soc/config.json` would make commands run in `sub/` talk
 * to another server with the user's token). Returns it unchanged; throws BadInputError naming
 * the path and the reason.
 */
export function checkRepoPath(path: unknown): string {
  if (typeof path !== "string") throw new BadInputError(`path must be a string, got ${typeof path}`, "bad_path");
  const why = _pathProblem(path);
  if (why) throw new BadInputError(`bad path ${JSON.stringify(path)}: ${why}`, "bad_path");
  return path;
}

/** True when `path` passes checkRepoPath. */
export function isRepoPath(path: string): boolean {
  return _pathProblem(path) === undefined;
}

/**
 * Turns a command-line path (relative to `cwd`) into a repository path relative to `top`,
 * `/`-separated; "" means the top itself. Throws UsageError when it lies outside the tree.
 */
export function toRepoPath(top: string, cwd: string, arg: string): string {
  const abs = resolve(cwd, arg);
  const rel = relative(top, abs);
  if (rel === "") return "";
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new UsageError(`${arg}: outside the working tree ${top}`);
  }
  const repoPath = rel.split(sep).join("/");
  if (repoPath.split("/").includes(SOC_SEGMENT)) {
    throw new UsageError(`${arg}: .soc/ holds soc's own state and is never tracked`);
  }
  return repoPath;
}

/** True when `path` is `dir` itself or lies beneath it ("" is the top and contains everything). */
export function isWithin(path: string, dir: string): boolean {
  return dir === "" || path === dir || path.startsWith(`${dir}/`);
}

/**
 * Orders paths by Unicode code point, which is the bytewise order of their UTF-8 form
 * (and SQLite's BINARY collation). Plain `<` compares UTF-16 units, which misorders
 * characters above U+FFFF against U+E000..U+FFFF.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF: lift them over 0xE000-0xFFFF.
    return _rank(x) - _rank(y);
  }
  return a.length - b.length;
}

/**
 * Quotes a path for human output the way `git status` does: as-is unless it holds a control
 * character, a double quote or a backslash; then C-style escapes inside double quotes.
 */
export function quotePath(path: string): string {
  if (!/[\u0000-\u001f\u007f"\\]/.test(path)) return path;
  const body = path.replace(/[\u0000-\u001f\u007f"\\]/g, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\" };
    return named[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`;
  });
  return `"${body}"`;
}

/** The directories above a repository path, outermost first: "a/b/c" → ["a", "a/b"]. */
export function ancestorPaths(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}

// ---------------------------------------------------------------------------

function _rank(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit;
}

function _pathProblem(path: string): string | undefined {
  if (path === "") return "empty";
  if (path.includes("\0")) return "contains NUL";
  if (path.startsWith("/")) return "absolute";
  if (encoder.encode(path).length > MAX_PATH_BYTES) return `longer than ${MAX_PATH_BYTES} bytes`;
  for (const segment of path.split("/")) {
    if (segment === "") return "empty segment (// or trailing /)";
    if (segment === "." || segment === "..") return `contains "${segment}"`;
    if (segment === SOC_SEGMENT) return `contains "${SOC_SEGMENT}", which holds soc's own state`;
    if (encoder.encode(segment).length > MAX_NAME_BYTES) return `a name longer than ${MAX_NAME_BYTES} bytes`;
  }
  return undefined;
}
