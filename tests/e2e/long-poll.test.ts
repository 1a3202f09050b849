import { describe, expect, test } from "bun:test";
import { createClient } from "../../lib/client/api.ts";
import { cli } from "../_harness/cli.ts";
import { tempDir, writeFile } from "../_harness/fs.ts";
import { startCaddy, startNginx } from "../_harness/proxies.ts";
import { startServer } from "../_harness/server.ts";
import { pushedTree } from "../_harness/working-trees.ts";

const TOKEN = "long-poll-token";

// The long poll (GET /v1/changes?wait=S) through real reverse proxies from Debian, nginx and
// Caddy, each with the README's recipe as it stands.
describe.each([
  ["nginx", startNginx],
  ["Caddy", startCaddy],
])("a long poll behind %s, configured as the README says", (_name, startProxy) => {
  test("held past Bun's 10 s idle timeout it is answered, not cut; a push through the proxy wakes a held one", async () => {
    await using server = await startServer({ token: TOKEN });
    await using proxy = await startProxy(server.url);
    const client = createClient(proxy.url, TOKEN);
    const { database } = await client.info();
    expect(await client.waitForChange(0, 12)).toEqual({ head: 0, database });

    using dir = tempDir();
    const a = await pushedTree(proxy.url, dir.path, { "f.txt": "one" }, ["--token", TOKEN]); // through the tunnel's WebSocket location
    const held = client.waitForChange(1, 25);
    writeFile(a, "d/f.txt", "two");
    await cli(a, ["push"]);
    expect(await held).toEqual({ head: 2, database });
    expect((await client.changes(1)).files.map((f) => [f.path, f.rev])).toEqual([["d/f.txt", 2]]);
  });
});
