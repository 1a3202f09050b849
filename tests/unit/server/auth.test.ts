import { describe, expect, test } from "bun:test";
import { bearerToken, isAuthorized, tokensMatch } from "../../../lib/server/auth.ts";

describe("auth", () => {
  test("bearerToken reads the token after a case-insensitive Bearer scheme", () => {
    expect(bearerToken("Bearer s3cret")).toBe("s3cret");
    expect(bearerToken("bearer s3cret")).toBe("s3cret");
    expect(bearerToken("BEARER   s3cret ")).toBe("s3cret");
    for (const bad of [undefined, null, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearers3cret", "Bearer a b", "Token s3cret"]) {
      expect(bearerToken(bad)).toBeUndefined();
    }
  });

  test("tokensMatch compares whole tokens, whatever their lengths", () => {
    expect(tokensMatch("s3cret", "s3cret")).toBe(true);
    expect(tokensMatch("s3cre", "s3cret")).toBe(false);
    expect(tokensMatch("s3cretX", "s3cret")).toBe(false);
    expect(tokensMatch("", "s3cret")).toBe(false);
    expect(tokensMatch("é", "é")).toBe(true);
  });

  test("isAuthorized: open without a token, else only the right bearer token", () => {
    expect(isAuthorized(null, undefined)).toBe(true);
    expect(isAuthorized("Bearer anything", undefined)).toBe(true);
    expect(isAuthorized(null, "s3cret")).toBe(false);
    expect(isAuthorized("Bearer wrong", "s3cret")).toBe(false);
    expect(isAuthorized("s3cret", "s3cret")).toBe(false);
    expect(isAuthorized("Bearer s3cret", "s3cret")).toBe(true);
    expect(isAuthorized("bearer s3cret", "s3cret")).toBe(true);
  });
});
