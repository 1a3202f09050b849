import { describe, expect, test } from "bun:test";
import { chmodSync, closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { md5Bytes, md5File } from "../../lib/shared/hash.ts";
import { CLI, cli, runCli } from "../_harness/cli.ts";
import { tempDir, writeFile } from "../_harness/fs.ts";
import { killGroup, waitFor } from "../_harness/proc.ts";
import { serverPid, startServer } from "../_harness/server.ts";
import { pointAt, pushedTree } from "../_harness/working-trees.ts";
import { PLACE_MAX_FILES } from "../../lib/shared/wire.ts";

// The http transport beyond the shared push/pull suite (sync.test.ts runs it over http too, with
// no rsync on PATH): big and empty files, a refused md5, a killed upload and a cut download.

const HTTP = ["--transport", "http"];
const MiB = 1024 * 1024;

/** Writes `mib` MiB of random bytes to `path`, a MiB at a time. */
function writeRandom(path: string, mib: number): void {
  const block = crypto.getRandomValues(new Uint8Array(MiB));
  const fd = openSync(path, "w");
  for (let i = 0; i < mib; i++)
    writeSync(
      fd,
      block.map((b) => b ^ i),
    );
  closeSync(fd);
}

/** The server's peak resident memory so far (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const kib = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return kib / 1024;
}

describe("the http transport", () => {
  test("an empty file and a 200 MiB one go up and come down whole; the server's memory stays bounded", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { "empty.txt": "", "small.txt": "s" }, HTTP);
    writeRandom(join(a, "d/big.bin"), 200);
    await cli(a, ["push"]);
    expect(peakRssMiB(serverPid(server))).toBeLessThan(150); // 200 MiB never sits in memory
    const b = join(dir.path, "b");
    await cli(dir.path, ["clone", server.url, b, ...HTTP]);
    expect(md5File(join(b, "d/big.bin"))).toBe(md5File(join(a, "d/big.bin")));
    expect(statSync(join(b, "d/empty.txt")).size).toBe(0);
    expect((await cli(b, ["status"])).stdout).toStartWith("nothing to push");
  });

  test("an upload whose bytes do not match its md5 is refused (422) and nothing of it is kept", async () => {
    await using server = await startServer();
    const claimed = md5Bytes("the real content");
    const url = `${server.url}/v1/uploads/${claimed}?size=16&offset=0`;
    const res = await fetch(url, { method: "PATCH", body: "forged content!!" });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("md5_mismatch");
    const held = await fetch(`${server.url}/v1/uploads/${claimed}?size=16`, { method: "HEAD" });
    expect(held.headers.get("upload-offset")).toBe("0");
  });

  test("a push killed in mid-upload resumes where the server got to, in the next push", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { "small.txt": "s" }, HTTP);
    writeRandom(join(a, "d/big.bin"), 200);
    const md5 = md5File(join(a, "d/big.bin"));
    const uploads = join(server.stateDir, "uploads");
    const partial = () => (existsSync(uploads) ? readdirSync(uploads).find((n) => n.endsWith(".part")) : undefined);
    const proc = Bun.spawn(["setsid", "bun", CLI, "push"], { cwd: a, env: process.env, stdout: "ignore", stderr: "ignore" });
    await using _push = { [Symbol.asyncDispose]: () => killGroup(proc) };
    await waitFor(() => (partial() ? statSync(join(uploads, partial() as string)).size > 0 : false), "the upload to start arriving");
    await killGroup(proc);
    // The server may still be ending the broken request (409 busy meanwhile).
    let held = Number.NaN;
    await waitFor(async () => {
      const res = await fetch(`${server.url}/v1/uploads/${md5}?size=${200 * MiB}`, { method: "HEAD" });
      held = Number(res.headers.get("upload-offset"));
      return res.status === 200;
    }, "the server to let the broken upload go");
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(200 * MiB);
    // The server takes bytes at the offset it holds and no other: a push that succeeds resumed there.
    expect((await fetch(`${server.url}/v1/uploads/${md5}?size=${200 * MiB}&offset=0`, { method: "PATCH", body: "x" })).status).toBe(409);
    await cli(a, ["push"]);
    expect(md5File(join(server.store, "d/big.bin"))).toBe(md5);
  });

  test("one content at more paths than a place request holds goes up once, lands at every path, and its upload goes with the commit", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { "small.txt": "s" }, HTTP);
    const copies = PLACE_MAX_FILES + 50;
    const content = "the same bytes at every path, and big enough to take a moment: ".repeat(20_000);
    for (let i = 0; i < copies; i++) writeFile(a, `d/same/${i}.txt`, content);
    const patches: number[] = [];
    using proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request) => {
        const url = new URL(request.url);
        if (request.method === "PATCH") patches.push(Number(url.searchParams.get("offset")));
        return fetch(`${server.url}${url.pathname}${url.search}`, { method: request.method, headers: request.headers, body: request.body });
      },
    });
    pointAt(a, `http://127.0.0.1:${proxy.port}`);
    expect((await cli(a, ["push", "--json"])).stdout).toContain(`"d/same/${copies - 1}.txt"`);
    expect(patches).toEqual([0]);
    for (const i of [0, PLACE_MAX_FILES - 1, PLACE_MAX_FILES, copies - 1])
      expect(readFileSync(join(server.store, `d/same/${i}.txt`), "utf8")).toBe(content);
    expect(readdirSync(join(server.stateDir, "uploads"))).toEqual([]);
  });

  test("a download cut off mid-file resumes with a Range request for the rest", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { "small.txt": "s" }, HTTP);
    writeRandom(join(a, "d/big.bin"), 20);
    await cli(a, ["push"]);
    // A proxy that passes everything, but breaks off the first download after 1 MiB of its body.
    const ranges: (string | null)[] = [];
    let cut = false;
    using proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        const url = new URL(request.url);
        const upstream = await fetch(`${server.url}${url.pathname}${url.search}`, {
          method: request.method,
          headers: request.headers,
          body: request.body,
        });
        if (url.pathname !== "/v1/content") return upstream;
        ranges.push(request.headers.get("range"));
        if (cut || upstream.status !== 200 || Number(upstream.headers.get("content-length")) < 2 * MiB) return upstream;
        cut = true;
        let sent = 0;
        const reader = (upstream.body as ReadableStream<Uint8Array>).getReader();
        const body = new ReadableStream<Uint8Array>({
          async pull(out) {
            const { done, value } = await reader.read();
            if (done) return out.close();
            if (sent >= MiB) {
              await reader.cancel();
              return out.close(); // short of its Content-Length: the connection ends mid-body
            }
            sent += value.byteLength;
            out.enqueue(value);
          },
        });
        return new Response(body, { status: upstream.status, headers: upstream.headers });
      },
    });
    const b = join(dir.path, "b");
    await cli(dir.path, ["clone", `http://127.0.0.1:${proxy.port}`, b, ...HTTP]);
    expect(md5File(join(b, "d/big.bin"))).toBe(md5File(join(a, "d/big.bin")));
    const resumed = ranges.filter((r) => r !== null);
    expect(resumed).toHaveLength(1);
    expect(Number(/^bytes=(\d+)-$/.exec(resumed[0] as string)?.[1])).toBeGreaterThan(0);
  });

  test("a client without rsync chooses http by itself, and soc remote says so", async () => {
    await using server = await startServer();
    using dir = tempDir();
    using bin = tempDir("soc-no-rsync-");
    await Bun.$`ln -s ${process.execPath} ${join(bin.path, "bun")}`;
    writeFile(dir.path, "t/f.txt", "x");
    const env = { PATH: bin.path };
    await cli(join(dir.path, "t"), ["init", server.url], 0, env);
    const remote = JSON.parse((await cli(join(dir.path, "t"), ["remote", "--json"], 0, env)).stdout);
    expect(remote).toMatchObject({ transport: "http", rsync: "none found" });
  });

  test("on a filesystem that cannot hold them (Windows, played here), a pull refuses reserved names and case clashes by name and applies the rest", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const files = { "ok.txt": "fine", "CON.txt": "device", "what?.txt": "refused character", "Case.txt": "upper", "case.txt": "lower" };
    await pushedTree(server.url, dir.path, files, HTTP);
    const b = join(dir.path, "b");
    const cloned = await runCli(dir.path, ["clone", server.url, b, ...HTTP], { SOC_TEST_FS: "windows" });
    expect(cloned.code).toBe(3);
    expect(readFileSync(join(b, "d/ok.txt"), "utf8")).toBe("fine");
    expect(readdirSync(join(b, "d"))).toEqual(["ok.txt"]);
    for (const name of ["CON.txt", "what?.txt", "Case.txt", "case.txt"])
      expect(cloned.stderr).toContain(`cannot be written on this machine: d/${name}`);
    expect(cloned.stderr).toContain('"CON.txt" is a reserved device name on Windows');
    expect(cloned.stderr).toContain('d/Case.txt (differs only by case from "d/case.txt")');
    // Nothing half done: the tree is clean, and the next pull refuses the same paths again.
    expect((await runCli(b, ["status"], { SOC_TEST_FS: "windows" })).stdout).toStartWith("nothing to push");
    const again = await runCli(b, ["pull", "--json"], { SOC_TEST_FS: "windows" });
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stdout).refused.map((r: { path: string }) => r.path)).toEqual(["d/CON.txt", "d/Case.txt", "d/case.txt", "d/what?.txt"]);
  });

  test("a push from a filesystem without Unix modes (Windows, played here) leaves the table's modes alone", async () => {
    await using server = await startServer();
    using dir = tempDir();
    const a = await pushedTree(server.url, dir.path, { "run.sh": "#!/bin/sh\n" }, HTTP);
    chmodSync(join(a, "d/run.sh"), 0o755);
    await cli(a, ["push"]);
    const b = join(dir.path, "b");
    const windows = { SOC_TEST_FS: "windows" };
    await cli(dir.path, ["clone", server.url, b, ...HTTP], 0, windows);
    chmodSync(join(b, "d/run.sh"), 0o666); // what such a filesystem shows for every file
    writeFile(b, "d/run.sh", "#!/bin/sh\necho edited\n");
    writeFile(b, "d/new.txt", "new");
    await cli(b, ["push"], 0, windows);
    expect((await cli(b, ["status"], 0, windows)).stdout).toStartWith("nothing to push");
    await cli(a, ["pull"]);
    expect(readFileSync(join(a, "d/run.sh"), "utf8")).toContain("edited");
    expect(statSync(join(a, "d/run.sh")).mode & 0o777).toBe(0o755);
    expect(statSync(join(a, "d/new.txt")).mode & 0o777).toBe(0o644);
  });
});
