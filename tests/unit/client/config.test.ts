import { describe, expect, test } from "bun:test";
import { clientTokenFromEnv, colorWanted, tunnelEnv } from "../../../lib/client/config.ts";
import { UsageError } from "../../../lib/shared/errors.ts";

describe("clientTokenFromEnv", () => {
  test("returns SOC_TOKEN when set and non-empty", () => {
    expect(clientTokenFromEnv({ SOC_TOKEN: "t" })).toBe("t");
    expect(clientTokenFromEnv({ SOC_TOKEN: " " })).toBeUndefined();
    expect(clientTokenFromEnv({})).toBeUndefined();
  });
});

describe("tunnelEnv", () => {
  test("tunnelEnv reads the URL and the token from the environment only", () => {
    expect(tunnelEnv({ SOC_TUNNEL_URL: "ws://h/v1/rsync", SOC_TOKEN: " t " })).toEqual({ url: "ws://h/v1/rsync", token: "t" });
    expect(tunnelEnv({ SOC_TUNNEL_URL: "wss://h/v1/rsync" })).toEqual({ url: "wss://h/v1/rsync", token: undefined });
    expect(() => tunnelEnv({})).toThrow(
      new UsageError("SOC_TUNNEL_URL is not set; `soc tunnel` is run by rsync for the tunnel transport, not by hand"),
    );
    expect(() => tunnelEnv({ SOC_TUNNEL_URL: "http://h" })).toThrow(new UsageError('SOC_TUNNEL_URL must be a ws:// or wss:// URL, got "http://h"'));
  });
});

describe("colorWanted", () => {
  test("only on a terminal, and never under NO_COLOR", () => {
    expect(colorWanted({}, true)).toBe(true);
    expect(colorWanted({}, false)).toBe(false);
    expect(colorWanted({}, undefined)).toBe(false);
    expect(colorWanted({ NO_COLOR: "1" }, true)).toBe(false);
  });
});
