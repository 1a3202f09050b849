import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, type Dirent } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** Absolute path of the project (where cli.ts lives). */
export const ROOT = resolve(import.meta.dir, "../..");

/** A temporary directory removed when the `using` scope ends. */
export function tempDir(prefix = "soc-test-"): { path: string } & Disposable {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes `content` (by default `rel` itself) to `top/rel`, creating the directories above it. */
export function writeFile(top: string, rel: string, content: string | NodeJS.ArrayBufferView = rel): void {
  const path = join(top, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/** Writes each path → content of `files` under `top`, as writeFile does. */
export function writeTree(top: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) writeFile(top, rel, content);
}

/** Every file under `dir` (except `.soc/`) as path → base64 content, and every symlink (never followed) as "symlink → TARGET", for byte-exact comparison. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of _entries(dir, ".soc")) {
    if (e.dirent.isSymbolicLink()) out[e.rel] = `symlink → ${readlinkSync(e.abs)}`;
    else if (!e.dirent.isDirectory()) out[e.rel] = readFileSync(e.abs).toString("base64");
  }
  return out;
}

/** Every regular file under `root` as path → content (latin1, so bytes round-trip); {} if `root` does not exist. */
export function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  for (const e of _entries(root)) if (e.dirent.isFile()) out[e.rel] = readFileSync(e.abs, "latin1");
  return out;
}

/** Everything under `root` as path → content (UTF-8), each directory as "<dir>": shows empty directories left behind too. */
export function treeWithDirs(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of _entries(root)) out[e.rel] = e.dirent.isDirectory() ? "<dir>" : readFileSync(e.abs, "utf8");
  return out;
}

// ---------------------------------------------------------------------------

/** Every entry under `root`, depth first, without following links; `skip` (a top-level name) and what is under it left out. */
function _entries(root: string, skip?: string, rel = ""): { rel: string; abs: string; dirent: Dirent }[] {
  const found: { rel: string; abs: string; dirent: Dirent }[] = [];
  for (const dirent of readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${dirent.name}` : dirent.name;
    if (p === skip) continue;
    found.push({ rel: p, abs: join(root, p), dirent });
    if (dirent.isDirectory()) found.push(..._entries(root, skip, p));
  }
  return found;
}
