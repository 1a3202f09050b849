import { ValidationError } from "elysia";
import { SocError } from "../lib/shared/errors.ts";
import type { ErrorBody } from "../lib/shared/protocol.ts";

/**
 * The HTTP status and `{ error: { code, message } }` body for anything a route threw (`code` is
 * Elysia's error code): a SocError as it says, a failed validation or unparsable body as 400, an
 * unknown route as 404, and anything else as a generic 500 (reported to `onInternal`, never shown).
 */
export function errorBody(code: string | number, error: unknown, onInternal?: (error: unknown) => void): { status: number; body: ErrorBody } {
  if (error instanceof SocError) {
    const paths = error.details?.paths;
    return { status: error.status, body: { error: { code: error.code, message: error.message, ...(Array.isArray(paths) ? { paths } : {}) } } };
  }
  if (error instanceof ValidationError && error.type !== "response") {
    return { status: 400, body: { error: { code: "bad_request", message: _validationMessage(error) } } };
  }
  // A body that failed as it was read (boundedBody: past the limit) says why.
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (code === "PARSE" && cause instanceof SocError) return errorBody(code, cause, onInternal);
  if (code === "PARSE") return { status: 400, body: { error: { code: "bad_request", message: "malformed request body (expected JSON)" } } };
  if (code === "NOT_FOUND") return { status: 404, body: { error: { code: "not_found", message: "no such route" } } };
  onInternal?.(error);
  return { status: 500, body: { error: { code: "internal", message: "internal error" } } };
}

// ---------------------------------------------------------------------------

function _validationMessage(error: ValidationError): string {
  const detail = error.valueError;
  const field = (detail?.path ?? "").replace(/\/([0-9]+)(?=\/|$)/g, "[$1]").replaceAll("/", ".");
  const where = ["body", "query", "params", "headers"].includes(error.type) ? error.type : "request";
  const message = detail?.message === "Expected union value" ? "wrong type or format" : detail?.message;
  return `invalid ${where}${field}: ${message ?? "does not match the schema"}`;
}
