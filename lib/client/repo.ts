import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { SocError, UsageError } from "../shared/errors.ts";
import { isDir } from "../shared/fs.ts";
import type { RemoteSettings } from "./transport.ts";

/** Name of the state directory at the top of every working tree. */
export const SOC_DIR = ".soc";

/** Where one working tree keeps its state. */
export interface RepoLayout {
  /** Absolute path of the working tree's top (the directory holding `.soc/`). */
  top: string;
  /** Absolute path of `.soc/`. */
  dir: string;
  /** The local SQLite database: tracked roots, base entries, revision. */
  dbFile: string;
  /** A cache of the base's paths and stat numbers for the next scan (base-snapshot.ts). */
  baseSnapshotFile: string;
  /** The remote and transport settings, JSON. */
  configFile: string;
  /** The push/pull lock file. */
  lockFile: string;
  /** Scratch space for downloads; same filesystem as the tree so renames are atomic. */
  tmpDir: string;
}

/** The layout of the working tree whose top is `top` (nothing is checked or created). */
export function repoLayout(top: string): RepoLayout {
  const abs = resolve(top);
  const dir = join(abs, SOC_DIR);
  return {
    top: abs,
    dir,
    dbFile: join(dir, "state.db"),
    baseSnapshotFile: join(dir, "base-snapshot"),
    configFile: join(dir, "config.json"),
    lockFile: join(dir, "lock"),
    tmpDir: join(dir, "tmp"),
  };
}

/**
 * Finds the working tree containing `cwd` by walking up to the nearest `.soc/` directory.
 * Throws UsageError (exit 2) naming `soc init` when there is none.
 */
export function findRepo(cwd: string): RepoLayout {
  let dir = resolve(cwd);
  for (;;) {
    if (isDir(join(dir, SOC_DIR))) return repoLayout(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new UsageError(`not a soc working tree (no .soc/ here or in any parent of ${resolve(cwd)}); run \`soc init\` first`, "not_a_repo");
}

/** Creates `.soc/` (and its tmp dir) at `top` if missing; returns the layout and whether it was new. */
export function createRepoDir(top: string): { layout: RepoLayout; created: boolean } {
  const layout = repoLayout(top);
  if (!isDir(layout.top)) throw new UsageError(`${top}: not a directory`);
  const created = !existsSync(layout.dir);
  mkdirSync(layout.tmpDir, { recursive: true });
  return { layout, created };
}

/** What `.soc/config.json` holds: the remote this tree syncs with, if any. */
export interface RepoConfig {
  remote?: RemoteSettings & { token?: string };
}

/** Reads `.soc/config.json` (missing = empty config); throws SocError on malformed JSON. */
export function readRepoConfig(layout: RepoLayout): RepoConfig {
  let text: string;
  try {
    text = readFileSync(layout.configFile, "utf8");
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as RepoConfig;
  } catch (err) {
    throw new SocError("bad_config", `${layout.configFile}: not valid JSON (${(err as Error).message}); fix or remove it`);
  }
}

/** Writes `.soc/config.json` atomically (temp file + rename), readable by the owner only (it may hold a token). */
export function writeRepoConfig(layout: RepoLayout, config: RepoConfig): void {
  const tmp = `${layout.configFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, layout.configFile);
}

/** Records `remote` (and `token`, when given) as this tree's remote in `.soc/config.json`. */
export function recordRemote(layout: RepoLayout, remote: RemoteSettings, token: string | undefined): void {
  writeRepoConfig(layout, { ...readRepoConfig(layout), remote: { ...remote, ...(token ? { token } : {}) } });
}
