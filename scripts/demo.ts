#!/usr/bin/env bun
// `make demo`: a real round trip — a server on a free port over a temp store, two working
// trees, edits on both sides, a conflict and its resolution — printing each command and its output.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "soc-demo-"));
const laptop = join(work, "laptop");
const desktop = join(work, "desktop");

const server = Bun.spawn(["bun", join(ROOT, "server.ts"), "--store", join(work, "droplet/store"), "--port", "0"], {
  stdout: "pipe",
  stderr: "ignore",
});
try {
  const url = await _listeningUrl(server.stdout);
  _say(`server: ${url} (store ${join(work, "droplet/store")})`);

  mkdirSync(join(laptop, "notes/ideas"), { recursive: true });
  writeFileSync(join(laptop, "notes/todo.txt"), "buy milk\n");
  writeFileSync(join(laptop, "notes/ideas/sync tool.md"), "# a sync tool\n");
  writeFileSync(join(laptop, "notes/-odd name\n.txt"), "names are data\n");
  await _soc(laptop, "init", url);
  await _soc(laptop, "add", "-r", "notes");
  await _soc(laptop, "status");
  await _soc(laptop, "push");
  await _soc(work, "clone", url, desktop);

  _say("edit different files on each machine");
  writeFileSync(join(laptop, "notes/todo.txt"), "buy milk\nbuy bread\n");
  writeFileSync(join(desktop, "notes/ideas/from desktop.md"), "written on the desktop\n");
  await _soc(laptop, "push");
  await _soc(desktop, "push");
  await _soc(laptop, "pull");

  _say("edit the same file on both: the second push is refused, nothing is lost");
  writeFileSync(join(laptop, "notes/todo.txt"), "laptop's list\n");
  writeFileSync(join(desktop, "notes/todo.txt"), "desktop's list\n");
  await _soc(laptop, "push");
  await _soc(desktop, "push");
  await _soc(desktop, "pull", "--keep-both");
  _say(
    `desktop has both versions: ${JSON.stringify(
      readdirSync(join(desktop, "notes"))
        .filter((n) => n.startsWith("todo"))
        .sort(),
    )}`,
  );
  writeFileSync(join(desktop, "notes/todo.txt"), "laptop's list\ndesktop's list\n");
  await _soc(desktop, "push");
  await _soc(laptop, "pull", "--json");
  _say(`laptop's todo.txt now reads: ${JSON.stringify(await Bun.file(join(laptop, "notes/todo.txt")).text())}`);
} finally {
  server.kill("SIGTERM");
  await server.exited;
  rmSync(work, { recursive: true, force: true });
  _say("server stopped, temp files removed");
}

// ---------------------------------------------------------------------------

async function _soc(cwd: string, ...args: string[]): Promise<void> {
  const where = cwd === work ? "" : `${cwd === laptop ? "laptop" : "desktop"}`;
  const [bold, plain] = process.stdout.isTTY ? ["\x1b[1m", "\x1b[0m"] : ["", ""];
  process.stdout.write(`\n${bold}${where}$ soc ${args.map((a) => (/^[\w./:-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")}${plain}\n`);
  const proc = Bun.spawn(["bun", join(ROOT, "cli.ts"), ...args], { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  process.stdout.write(out + err + (code ? `(exit ${code})\n` : ""));
}

function _say(text: string): void {
  process.stdout.write(`\n# ${text}\n`);
}

async function _listeningUrl(stdout: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stdout) {
    text += new TextDecoder().decode(chunk);
    const url = /listening on (\S+)/.exec(text)?.[1];
    if (url) return url;
  }
  throw new Error("the server exited before listening");
}
