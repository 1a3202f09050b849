import { expect, test } from "bun:test";
import { tunnelEnv } from "../../../lib/server/config.ts";
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

test("tunnelEnv reads the URL and the token from the environment only", () => {
  expect(tunnelEnv({ SOC_TUNNEL_URL: "ws://h/v1/rsync", SOC_TOKEN: " t " })).toEqual({ url: "ws://h/v1/rsync", token: "t" });
  expect(tunnelEnv({ SOC_TUNNEL_URL: "wss://h/v1/rsync" })).toEqual({ url: "wss://h/v1/rsync", token: undefined });
  expect(() => tunnelEnv({})).toThrow(
    new UsageError("SOC_TUNNEL_URL is not set; `soc tunnel` is run by rsync for the tunnel transport, not by hand"),
  );
  expect(() => tunnelEnv({ SOC_TUNNEL_URL: "http://h" })).toThrow(new UsageError('SOC_TUNNEL_URL must be a ws:// or wss:// URL, got "http://h"'));
});
