// The protocol's numbers and names, without its schemas (protocol.ts, which loads elysia for them):
// what the client needs at run time, so `soc` never loads the server's framework.

/** Version of the HTTP API; every route lives under `/v1`. */
export const API_VERSION = 1;

/** Largest request body the server accepts, in bytes (changesets travel in parts far below it). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The rsync tunnel's flow control (GET /v1/rsync): each end acknowledges the bytes it has handed
 * to its rsync with `{"ack":N}` (N: the total so far), and a sender keeps at most this many bytes
 * beyond the other end's last ack in flight.
 */
export const TUNNEL_WINDOW = 8 * 1024 * 1024;

/**
 * The largest binary frame a tunnel client sends. It checks the window after each frame, so it may
 * run this far past it; a client further past it is closed (code 1008) by the server.
 */
export const TUNNEL_MAX_FRAME = 1024 * 1024;

/** Rows /v1/changes answers per page when no smaller `limit` is asked for. */
export const CHANGES_PAGE_ROWS = 10_000;

/** Requests stay this small, so a changeset of a million paths goes in parts (and fits nginx's default 1 MiB limit). */
export const CHANGESET_PART_BYTES = 768 * 1024;

/** Most paths one POST /v1/view/part or /v1/push/basis names (a client sends more in several, each also under CHANGESET_PART_BYTES). */
export const VIEW_MAX_PATHS = 2000;

/** Most files one POST /v1/push/place names (the http transport sends more in several). */
export const PLACE_MAX_FILES = 2000;

/** The media type of a streamed commit: one JSON object per line, `{progress}`… then `{result}` or `{error, status}`. */
export const COMMIT_STREAM_TYPE = "application/x-ndjson";
