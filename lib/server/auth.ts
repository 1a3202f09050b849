import { createHash, timingSafeEqual } from "node:crypto";

/**
 * The token of an `Authorization: Bearer <token>` header value (scheme matched
 * case-insensitively, as RFC 9110 says), or undefined when there is none.
 * Tokens in the query string are deliberately not accepted: URLs end up in logs.
 */
export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
  return match?.[1];
}

/** True when `given` equals `expected`, compared in constant time. */
export function tokensMatch(given: string, expected: string): boolean {
  // Hashing both sides first makes the comparison length-independent: timingSafeEqual
  // needs equal lengths, and an early length check would leak the token's length.
  return timingSafeEqual(_sha256(given), _sha256(expected));
}

/**
 * True when a request with this Authorization header may proceed: always when no token
 * is configured, else only with the right bearer token.
 */
export function isAuthorized(header: string | null | undefined, expected: string | undefined): boolean {
  if (expected === undefined) return true;
  const given = bearerToken(header);
  return given !== undefined && tokensMatch(given, expected);
}

// ---------------------------------------------------------------------------

function _sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
