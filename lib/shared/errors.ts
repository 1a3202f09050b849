/** Exit codes shared by every command; documented in `soc --help` and the README. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  conflict: 3,
  unreachable: 4,
  locked: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Base of every error soc raises on purpose: a stable code, an HTTP status and a CLI exit code. */
export class SocError extends Error {
  readonly code: string;
  readonly status: number;
  readonly exitCode: ExitCode;
  /** Extra machine-readable detail sent with the error (e.g. conflicting paths). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, opts: { status?: number; exitCode?: ExitCode; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = "SocError";
    this.code = code;
    this.status = opts.status ?? 500;
    this.exitCode = opts.exitCode ?? EXIT.error;
    this.details = opts.details;
  }
}

/** Wrong arguments or a command used where it cannot run (exit 2, HTTP 400). */
export class UsageError extends SocError {
  constructor(message: string, code = "usage") {
    super(code, message, { status: 400, exitCode: EXIT.usage });
  }
}

/** A request or argument that is malformed or hostile (HTTP 400, exit 1). */
export class BadInputError extends SocError {
  constructor(message: string, code = "bad_request") {
    super(code, message, { status: 400, exitCode: EXIT.error });
  }
}

/** The same path changed on both sides since the base (HTTP 409, exit 3). */
export class ConflictError extends SocError {
  readonly paths: string[];
  constructor(message: string, paths: string[]) {
    super("conflict", message, { status: 409, exitCode: EXIT.conflict, details: { paths } });
    this.paths = paths;
  }
}

/** The server could not be reached, refused our credentials, or is too busy to serve us (exit 4). */
export class RemoteError extends SocError {
  constructor(message: string, code = "unreachable", status = 502) {
    super(code, message, { status, exitCode: EXIT.unreachable });
  }
}

/** Another soc process holds the repository lock (exit 5). */
export class LockedError extends SocError {
  constructor(message: string) {
    super("locked", message, { status: 423, exitCode: EXIT.locked });
  }
}

/** What a request names does not exist, or no longer does (HTTP 404, exit 1). */
export class NotFoundError extends SocError {
  constructor(message: string) {
    super("not_found", message, { status: 404, exitCode: EXIT.error });
  }
}
