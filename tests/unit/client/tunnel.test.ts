import { expect, test } from "bun:test";
import { UsageError } from "../../../lib/shared/errors.ts";
import { tunnelCommand, tunnelUrl } from "../../../lib/client/tunnel.ts";

test("tunnelUrl: http→ws, https→wss, path prefix kept, query dropped", () => {
  expect(tunnelUrl("http://127.0.0.1:8417")).toBe("ws://127.0.0.1:8417/v1/rsync");
  expect(tunnelUrl("https://example.com/soc/?x=1")).toBe("wss://example.com/soc/v1/rsync");
  expect(() => tunnelUrl("ftp://example.com")).toThrow(new UsageError("not an http(s) URL: ftp://example.com"));
});

test("tunnelCommand runs this cli's hidden tunnel verb; -- keeps rsync's arguments away from option parsing", () => {
  expect(tunnelCommand()).toEqual([process.execPath, expect.stringMatching(/\/cli\.ts$/), "tunnel", "--"]);
});
