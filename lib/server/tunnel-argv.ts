import { dirname, sep } from "node:path";
import { BadInputError } from "../shared/errors.ts";

/** The directories a tunnelled rsync may touch. */
export interface RsyncPlaces {
  /** Absolute, symlink-free store root: where a `--sender` reads, and an upload's --copy-dest. */
  store: string;
  /** Absolute path of an existing push stage; throws BadInputError for an unknown id. */
  stage(id: string): string;
  /**
   * A node with a cache (--cache), whose store holds no tree: `view(id)` is where a `--sender`
   * reads instead (views.ts; throws for an unknown id), and `basis(id)` the --copy-dest of an
   * upload to stage `id`, when its push asked for one.
   */
  sessions?: { view(id: string): string; basis(id: string): string | undefined };
}

/** What the server runs for one tunnel session. */
export interface RsyncServerCommand {
  /** Full argv, program first. */
  argv: string[];
  /** True when the server sends (a download), false when it receives into a stage. */
  sender: boolean;
  /** The directory the session is confined to (the store, or the stage). */
  dir: string;
}

/**
 * Checks the remote command rsync asked the tunnel to run (`rsync --server [--sender] -flags
 * --opts... . PATH`, still shell-escaped as rsync sends it) against an allowlist and returns what
 * to spawn: the same options plus `--munge-links`, `--confine-root`, and for an upload `--drop-D`
 * and `--copy-dest=<store>` (on a node with a cache, the stage's basis, if it has one). Pure but for the lookups of `places`. Throws BadInputError naming what it refused.
 */
export function checkRsyncArgv(argv: unknown, places: RsyncPlaces, rsync = "rsync"): RsyncServerCommand {
  if (!Array.isArray(argv) || argv.length > 64 || !argv.every((a) => typeof a === "string" && a.length <= 4096 && !a.includes("\0"))) {
    throw _refuse("the first frame must be rsync's remote command as a JSON array of strings");
  }
  const args = argv as string[];
  if (args[0] !== "rsync") throw _refuse(`the remote command must be rsync, got ${JSON.stringify(args[0] ?? "")}`);
  if (args[1] !== "--server") throw _refuse('not an rsync server command (no "--server")');
  const sender = args[2] === "--sender";
  const dot = args.indexOf(".", 2);
  if (dot < 0) throw _refuse('not an rsync server command (no "." before the path)');
  const options = args.slice(sender ? 3 : 2, dot).map(_unescape);
  for (const option of options) _checkOption(option);
  const paths = args.slice(dot + 1).map(_unescape);
  if (paths.length !== 1) throw _refuse(`expected exactly one path, got ${paths.length}`);
  const { dir, basis } = _place(paths[0] as string, sender, places);
  const root = basis === undefined ? dir : _commonDir(dir, basis);
  const added = ["--munge-links", ...(root === sep ? [] : [`--confine-root=${root}`])];
  // An upload may reuse any store (or basis) file with the same name and content instead of receiving it.
  if (!sender) added.push("--drop-D", ...(basis === undefined ? [] : [`--copy-dest=${basis}`]));
  return { argv: [rsync, "--server", ...(sender ? ["--sender"] : []), ...options, ...added, "--", ".", `${dir}/`], sender, dir };
}

// ---------------------------------------------------------------------------

/** Short options allowed in the cluster; everything after `e` is rsync's capability string. */
const SHORT_OK = new Set("tpIRcrldvniWSOJxmEHzuy");
const LONG_FLAGS = new Set(
  (
    "from0 checksum ignore-times size-only whole-file no-W no-whole-file inplace append append-verify partial delay-updates " +
    "numeric-ids mkpath no-implied-dirs prune-empty-dirs safe-links munge-links ignore-existing existing ignore-missing-args " +
    "use-qsort fsync preallocate open-noatime new-compress old-compress no-r no-relative relative recursive times perms " +
    "executability dirs links list-only msgs2stderr no-msgs2stderr stats dry-run omit-dir-times omit-link-times " +
    "one-file-system update fuzzy sparse hard-links compress no-compress"
  ).split(" "),
);
const LONG_VALUED = new Set(
  // log-format: an rsync sending with --progress asks for `--log-format=X` (itemizing); no `%` escape passes _valueOk.
  "files-from timeout bwlimit compress-level compress-choice checksum-choice checksum-seed block-size max-size min-size modify-window max-alloc info log-format".split(
    " ",
  ),
);
const REASONS: [RegExp, string][] = [
  [/^(s|secluded-args|protect-args)$/, "it would hide the remaining options from the server's check"],
  [
    /^(e|T|rsh|rsync-path|daemon|config|log-file.*|backup-dir|temp-dir|partial-dir|.*-dest|files-from|exclude-from|include-from|filter|(only-)?write-batch|read-batch|password-file|early-input)$/,
    "it names a path or program on the server",
  ],
  [/^(remove-source-files|remove-sent-files|delete.*|max-delete)$/, "it deletes files on the server"],
  [
    /^(L|k|K|copy-links|copy-dirlinks|keep-dirlinks|copy-unsafe-links|insecure-links|no-munge-links)$/,
    "it follows symlinks out of the allowed directory",
  ],
];

function _checkOption(option: string): void {
  const long = /^--([^=]+)(?:=(.*))?$/s.exec(option);
  if (long) {
    const [, name = "", value] = long;
    if (value === undefined ? LONG_FLAGS.has(name) : LONG_VALUED.has(name) && _valueOk(name, value)) return;
    throw _optionError(`--${name}`, name);
  }
  const short = /^-([A-Za-z]*?)(e[0-9]*\.\w*)?$/.exec(option);
  if (!short || option === "-") throw _refuse(`unexpected argument ${JSON.stringify(option)} before "."`);
  for (const letter of short[1] ?? "") if (!SHORT_OK.has(letter)) throw _optionError(`-${letter}`, letter);
}

function _valueOk(name: string, value: string): boolean {
  // "-": the file list comes in-band over the protocol, never from a server path.
  return name === "files-from" ? value === "-" : /^[A-Za-z0-9.,:+_-]{1,64}$/.test(value);
}

function _optionError(shown: string, name: string): BadInputError {
  const reason = REASONS.find(([pattern]) => pattern.test(name))?.[1] ?? "it is not allowed through the tunnel";
  return _refuse(`refused rsync option ${shown}: ${reason}`);
}

/**
 * The absolute directory `path` names: a download reads `store/` (on a node with a cache,
 * `view/<id>/`); an upload writes `stage/<id>/`, with the store (or the stage's basis) as `basis`.
 */
function _place(path: string, sender: boolean, places: RsyncPlaces): { dir: string; basis?: string } {
  const rel = path.replace(/^(\.\/)+/, "");
  const shown = JSON.stringify(path);
  if (rel.startsWith("/")) throw _refuse(`refused path ${shown}: absolute paths are not allowed`);
  if (rel.split("/").includes("..")) throw _refuse(`refused path ${shown}: ".." is not allowed`);
  const { sessions } = places;
  if (sender) {
    const view = /^view\/([0-9a-f]{32})\/?$/.exec(rel);
    if (sessions && view) return { dir: sessions.view(view[1] as string) };
    if (sessions) throw _refuse(`refused path ${shown}: this server keeps a cache, not a tree: a download reads "view/<id>/" only`);
    if (!/^store\/?$/.test(rel)) throw _refuse(`refused path ${shown}: a download reads "store/" only`);
    return { dir: places.store };
  }
  if (/^store(\/|$)/.test(rel)) throw _refuse(`refused path ${shown}: the store changes only through a push commit; upload to "stage/<id>/"`);
  const stage = /^stage\/([0-9a-f]{32})\/?$/.exec(rel);
  if (!stage) throw _refuse(`refused path ${shown}: an upload writes to "stage/<id>/" only`);
  const id = stage[1] as string;
  const dir = places.stage(id);
  const basis = sessions ? sessions.basis(id) : places.store;
  return basis === undefined ? { dir } : { dir, basis };
}

/** Undoes the backslash escaping rsync applies for the remote shell (there is no shell here). */
function _unescape(arg: string): string {
  return arg.replace(/\\(.)/gs, "$1");
}

function _commonDir(a: string, b: string): string {
  let dir = a;
  while (dir !== sep && !(b === dir || b.startsWith(dir + sep))) dir = dirname(dir);
  return dir;
}

function _refuse(message: string): BadInputError {
  return new BadInputError(message, "refused");
}
