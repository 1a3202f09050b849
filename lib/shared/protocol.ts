import { t, type Static } from "elysia";
import { CHANGES_PAGE_ROWS, PLACE_MAX_FILES, VIEW_MAX_PATHS } from "./wire.ts";

const Path = t.String({ minLength: 1, maxLength: 4096 });
/** A tracked-root rule's path: a repository path, or "" for the top of the tree. */
const RootPath = t.String({ maxLength: 4096 });
const Md5 = t.String({ pattern: "^[0-9a-f]{32}$" });
/** Nanoseconds since the epoch as a decimal string (too big for a JSON number). */
const Nanos = t.String({ pattern: "^[0-9]{1,20}$" });
const Rev = t.Integer({ minimum: 0 });

export const RootRuleSchema = t.Object({
  path: RootPath,
  kind: t.Union([t.Literal("file"), t.Literal("dir"), t.Literal("exclude")]),
});
export type RootRuleBody = Static<typeof RootRuleSchema>;

export const Health = t.Object({ ok: t.Boolean() });
export type Health = Static<typeof Health>;

export const Info = t.Object({
  server: t.String({ description: "soc version of the server" }),
  api: t.Integer(),
  revision: Rev,
  /** The server database's random id: another one means another (replaced, reset) server. */
  database: t.String({ pattern: "^[0-9a-f]{32}$", description: "random id of the server's database, made when it was created" }),
  transports: t.Array(t.String()),
  /** Absolute path of the store on the server's filesystem (for the local transport). */
  store: t.String(),
  /** A node with a cache (--cache) holds no tree: rsync reads a view of what a pull asks for (POST /v1/view/begin), and a push asks for its basis. */
  views: t.Optional(t.Boolean()),
});
export type Info = Static<typeof Info>;

const SessionId = t.String({ pattern: "^[0-9a-f]{32}$" });
const ViewPaths = t.Array(Path, { maxItems: VIEW_MAX_PATHS });

/** POST /v1/view/begin: a fresh, empty view, read by rsync (`view/<id>/` through the tunnel, `viewPath` over ssh or locally). */
export const ViewBegin = t.Object({ view: SessionId, viewPath: t.String() });
export type ViewBegin = Static<typeof ViewBegin>;

/** POST /v1/view/part: links the current content of these paths into the view (paths the server does not hold as files are left out). */
export const ViewPartRequest = t.Object({ view: SessionId, paths: ViewPaths });
export type ViewPartRequest = Static<typeof ViewPartRequest>;

export const ViewPart = t.Object({ linked: t.Integer({ minimum: 0 }) });
export type ViewPart = Static<typeof ViewPart>;

/** POST /v1/view/end: the view goes (else it is swept after a day). */
export const ViewEndRequest = t.Object({ view: SessionId });
export type ViewEndRequest = Static<typeof ViewEndRequest>;

/** POST /v1/push/basis: links the current content of these paths into the stage's basis, which its rsync reuses (--copy-dest). */
export const PushBasisRequest = t.Object({ stage: SessionId, paths: ViewPaths });
export type PushBasisRequest = Static<typeof PushBasisRequest>;

export const PushBasis = t.Object({ basisPath: t.String(), linked: t.Integer({ minimum: 0 }) });
export type PushBasis = Static<typeof PushBasis>;

/** GET /v1/changes?since=N[&afterRev=R&afterPath=P][&limit=K]: a page of rows, in (rev, path) order. */
export const ChangesQuery = t.Object({
  since: t.Numeric({ minimum: 0 }),
  /** Where the previous page ended (its `next`): this page starts after that row. */
  afterRev: t.Optional(t.Numeric({ minimum: 0 })),
  afterPath: t.Optional(t.String({ maxLength: 4096 })),
  limit: t.Optional(t.Numeric({ minimum: 1, maximum: CHANGES_PAGE_ROWS })),
  /** A long poll: with nothing after `since` yet, answer once there is, or after this many seconds (at most 25). */
  wait: t.Optional(t.Numeric({ minimum: 0 })),
});
export type ChangesQuery = Static<typeof ChangesQuery>;

export const FileRow = t.Object({
  path: Path,
  size: t.Integer({ minimum: 0 }),
  md5: t.String(),
  mode: t.Integer({ minimum: 0 }),
  mtimeNs: Nanos,
  rev: Rev,
  deleted: t.Boolean(),
  /** A symlink: its target, never followed (`md5` and `size` are the target's). */
  link: t.Optional(t.String()),
});
export type FileRow = Static<typeof FileRow>;

export const Changes = t.Object({
  /**
   * Every change up to this revision is in this page or the ones before it: the head on the last
   * page, and just below the first revision not yet complete on a page with `next`.
   */
  revision: Rev,
  files: t.Array(FileRow),
  /** The whole shared set of tracked-root rules. */
  roots: t.Array(RootRuleSchema),
  /** Present when more rows follow: ask again with afterRev and afterPath set to these. */
  next: t.Optional(t.Object({ rev: Rev, path: t.String() })),
  /** The server database's id (as in Info): a long poll's answer tells a client that the server was replaced. */
  database: t.Optional(t.String({ pattern: "^[0-9a-f]{32}$" })),
  /** A long poll's answer: the server's head revision when it answered. */
  head: t.Optional(Rev),
});
export type Changes = Static<typeof Changes>;

export const PushBeginRequest = t.Object({ client: t.String({ maxLength: 256 }) });
export type PushBeginRequest = Static<typeof PushBeginRequest>;

export const PushBegin = t.Object({
  stage: t.String({ pattern: "^[0-9a-f]{32}$" }),
  /** Absolute path of the staging directory on the server's filesystem (local transport). */
  stagePath: t.String(),
});
export type PushBegin = Static<typeof PushBegin>;

export const Upsert = t.Object({
  path: Path,
  size: t.Integer({ minimum: 0 }),
  md5: Md5,
  /** Absent: the row keeps its mode (0644 for a new path), from a client whose filesystem keeps no Unix modes (Windows). */
  mode: t.Optional(t.Integer({ minimum: 0, maximum: 0o7777 })),
  mtimeNs: Nanos,
  /** A symlink: its target, never followed; `md5` and `size` are the target's, and no file is staged for it. */
  link: t.Optional(t.String({ minLength: 1, maxLength: 4096, pattern: "^[^\\u0000]*$" })),
  /** Server revision the client's change was built on; 0 for a path new to the client. */
  baseRev: Rev,
});
export type Upsert = Static<typeof Upsert>;

export const Delete = t.Object({ path: Path, baseRev: Rev });
export type Delete = Static<typeof Delete>;

/** POST /v1/push/part: one part of a changeset too big for one request, kept with the stage until its commit. */
export const PushPartRequest = t.Object({
  stage: t.String({ pattern: "^[0-9a-f]{32}$" }),
  /** 0, 1, 2, …: sending a part again replaces it. */
  part: t.Integer({ minimum: 0, maximum: 1_000_000 }),
  upserts: t.Array(Upsert),
  deletes: t.Array(Delete),
});
export type PushPartRequest = Static<typeof PushPartRequest>;
/** The entries of one part of a changeset. */
export type ChangesetPart = Pick<PushPartRequest, "upserts" | "deletes">;

export const PushPart = t.Object({ part: t.Integer({ minimum: 0 }) });
export type PushPart = Static<typeof PushPart>;

/** POST /v1/push/abort: the client gives up a push; its stage and parts go (unless a commit already holds them). */
export const PushAbortRequest = t.Object({ stage: t.String({ pattern: "^[0-9a-f]{32}$" }) });
export type PushAbortRequest = Static<typeof PushAbortRequest>;

export const PushCommitRequest = t.Object({
  stage: t.String({ pattern: "^[0-9a-f]{32}$" }),
  client: t.String({ maxLength: 256 }),
  /** How many parts (POST /v1/push/part, numbered from 0) came before; their entries join these. */
  parts: t.Optional(t.Integer({ minimum: 0, maximum: 1_000_000 })),
  upserts: t.Array(Upsert),
  deletes: t.Array(Delete),
  /** Root rules this client added or changed, and paths whose rule it removed. */
  roots: t.Object({ set: t.Array(RootRuleSchema), remove: t.Array(RootPath) }),
  /** Lets through a push that deletes more than half of the live files (or all of them). */
  allowMassDelete: t.Optional(t.Boolean()),
  /** `push --force`: also put staged files whose row is unchanged back into the store (a repair). */
  repair: t.Optional(t.Boolean()),
});
export type PushCommitRequest = Static<typeof PushCommitRequest>;

export const PushCommit = t.Object({
  revision: Rev,
  /** Paths whose new content was stored, and paths deleted, by this revision. */
  stored: t.Array(t.String()),
  deleted: t.Array(t.String()),
});
export type PushCommit = Static<typeof PushCommit>;

/** How far a commit has got; `step` is "verifying" (the staged files' md5), "committing" (the rows), or "storing" (the files). */
export const CommitProgress = t.Object({ step: t.String(), done: t.Integer({ minimum: 0 }), total: t.Integer({ minimum: 0 }) });
export type CommitProgress = Static<typeof CommitProgress>;

export const ErrorBody = t.Object({
  error: t.Object({
    code: t.String(),
    message: t.String(),
    paths: t.Optional(t.Array(t.String())),
  }),
});
export type ErrorBody = Static<typeof ErrorBody>;

export const LogQuery = t.Object({
  path: t.Optional(Path),
  limit: t.Optional(t.Numeric({ minimum: 1, maximum: 10000 })),
});
export type LogQuery = Static<typeof LogQuery>;

export const RevisionEntry = t.Object({
  rev: Rev,
  /** When the server made the revision, ISO 8601. */
  at: t.String(),
  client: t.String(),
  added: t.Integer({ minimum: 0 }),
  modified: t.Integer({ minimum: 0 }),
  deleted: t.Integer({ minimum: 0 }),
});
export type RevisionEntry = Static<typeof RevisionEntry>;

export const PathChange = t.Object({
  rev: Rev,
  at: t.String(),
  client: t.String(),
  action: t.Union([t.Literal("added"), t.Literal("modified"), t.Literal("deleted")]),
  size: t.Integer({ minimum: 0 }),
  md5: t.String(),
  /** Whether the content written by this revision can still be restored (current, or a kept version). */
  available: t.Boolean(),
});
export type PathChange = Static<typeof PathChange>;

/** GET /v1/log: the revisions newest first, or with `path` that path's changes newest first. */
export const Log = t.Object({
  revisions: t.Array(RevisionEntry),
  path: t.Optional(t.String()),
  history: t.Optional(t.Array(PathChange)),
});
export type Log = Static<typeof Log>;

/** GET /v1/content?path=&rev=: the bytes of `path` as of revision `rev` (default: current). */
export const ContentQuery = t.Object({ path: Path, rev: t.Optional(t.Numeric({ minimum: 1 })) });

/** The http transport (no rsync): content uploaded to /v1/uploads/{md5}?size=N, then placed in a push's stage by path. */
export const UploadParams = t.Object({ md5: Md5 });
export const UploadQuery = t.Object({
  size: t.Numeric({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  /** PATCH: where the bytes sent start; the server must hold exactly this many already. */
  offset: t.Optional(t.Numeric({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
});
export const Upload = t.Object({ offset: t.Integer({ minimum: 0 }) });
export type Upload = Static<typeof Upload>;

export const PlaceRequest = t.Object({
  stage: t.String({ pattern: "^[0-9a-f]{32}$" }),
  files: t.Array(t.Object({ path: Path, md5: Md5, size: t.Integer({ minimum: 0 }), mtimeNs: Nanos }), { maxItems: PLACE_MAX_FILES }),
  /** Whether a store file with the same content may serve (not for `push --force`, which repairs the store). */
  fromStore: t.Boolean(),
});
export type PlaceRequest = Static<typeof PlaceRequest>;
export const Place = t.Object({
  missing: t.Array(t.String(), { description: "paths the server holds no content for: upload them, then place them again" }),
});
export type Place = Static<typeof Place>;
export type ContentQuery = Static<typeof ContentQuery>;

export const RestoreRequest = t.Object({
  client: t.String({ maxLength: 256 }),
  /** Each path with the revision whose content to bring back; no rev: the last content before the current one. */
  paths: t.Array(t.Object({ path: Path, rev: t.Optional(t.Integer({ minimum: 1 })) }), { minItems: 1 }),
});
export type RestoreRequest = Static<typeof RestoreRequest>;

export const Restore = t.Object({
  revision: Rev,
  restored: t.Array(t.Object({ path: t.String(), fromRev: Rev })),
});
export type Restore = Static<typeof Restore>;

/** POST /v1/verify: the server re-hashes its store against its table. */
export const Verify = t.Object({
  checked: t.Integer({ minimum: 0 }),
  mismatches: t.Array(t.Object({ path: t.String(), expected: t.String(), actual: t.Union([t.String(), t.Null()]) })),
});
export type Verify = Static<typeof Verify>;
