import { accessSync, constants } from "node:fs";
import { SocError } from "../shared/errors.ts";

/**
 * The rsync a client runs, as `--version` tells it. Three kinds matter:
 * - rsync 3.1 and later (Linux, Homebrew): whole-run progress with `--info=progress2`;
 * - Apple's openrsync, /usr/bin/rsync since macOS 15.4 (protocol 29): it exits 1 on any
 *   `--info=`, and shows progress per file with `--progress`;
 * - rsync before 3.1 (2.6.9 on older macOS, 3.0 on old distributions): no `--info` either.
 */
export interface RsyncProgram {
  path: string;
  kind: "rsync" | "openrsync";
  /** rsync's version (`3.5.0`), or openrsync's protocol (`protocol 29`). */
  version: string;
  /** Whether it takes `--info=progress2`; the others get `--progress`, read file by file. */
  progress2: boolean;
}

/** Where rsync is looked for after SOC_RSYNC and the configured one: Homebrew's (Apple silicon, then Intel), then PATH. */
export const RSYNC_CANDIDATES = ["/opt/homebrew/bin/rsync", "/usr/local/bin/rsync"];

/** What `rsync --version` printed, classified; undefined for a program soc does not know as rsync. */
export function classifyRsync(text: string): Omit<RsyncProgram, "path"> | undefined {
  if (/^openrsync\b/m.test(text)) {
    const protocol = /protocol version (\d+)/.exec(text)?.[1];
    return { kind: "openrsync", version: protocol ? `protocol ${protocol}` : "unknown", progress2: false };
  }
  const m = /^rsync\s+version\s+v?(\d+)\.(\d+)(\.\d+)?/m.exec(text);
  if (!m) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return { kind: "rsync", version: `${major}.${minor}${m[3] ?? ""}`, progress2: major > 3 || (major === 3 && minor >= 1) };
}

/**
 * The rsync to run, found once per process: `SOC_RSYNC` from `env`, else `configured` (the
 * tree's config), else the first of RSYNC_CANDIDATES that exists, else `rsync` on PATH; then
 * classified by its `--version`. Undefined when there is none; throws SocError when the one named
 * by SOC_RSYNC or the config is missing, or when the one found does not say it is rsync.
 */
export function findRsync(env: Record<string, string | undefined>, configured?: string): RsyncProgram | undefined {
  const named = env.SOC_RSYNC?.trim() || configured;
  const key = `${named ?? ""}\0${env.PATH ?? ""}`;
  if (!_found.has(key)) _found.set(key, _find(named, env));
  return _found.get(key);
}

// ---------------------------------------------------------------------------

const _found = new Map<string, RsyncProgram | undefined>();

function _find(named: string | undefined, env: Record<string, string | undefined>): RsyncProgram | undefined {
  const from = env.SOC_RSYNC?.trim() ? "SOC_RSYNC" : "--rsync";
  const path = named
    ? Bun.which(named, { PATH: env.PATH ?? "" })
    : (RSYNC_CANDIDATES.find(_isExecutable) ?? Bun.which("rsync", { PATH: env.PATH ?? "" }));
  if (named && !path) throw new SocError("rsync_missing", `${named} (named by ${from}) is not an executable program`);
  if (!path) return undefined;
  const run = Bun.spawnSync([path, "--version"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const kind = classifyRsync(`${run.stdout.toString()}${run.stderr.toString()}`);
  if (!kind) {
    const said = `${run.stdout.toString()}${run.stderr.toString()}`.trim().split("\n")[0] ?? "";
    throw new SocError(
      "rsync_unknown",
      `${path} does not say it is rsync or openrsync (\`${path} --version\`: ${JSON.stringify(said.slice(0, 120))})`,
    );
  }
  return { path, ...kind };
}

function _isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
