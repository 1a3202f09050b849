/**
 * The load of `make bench-load`, run in a worker thread so that one kind of traffic never waits
 * behind the other's bookkeeping: "poll" sends `GET /v1/changes?since=REV` for `clients` clients,
 * "push" makes each of `clients` clients push a few small files (begin, files into the stage the
 * server names, the streamed commit: what `soc push --transport local` sends). Open loop: request
 * n is due at `startMs + n * everyMs / clients` and goes then, whatever came back before.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createClient, type RemoteClient } from "../lib/client/api.ts";
import { md5Bytes } from "../lib/shared/hash.ts";
import type { Upsert } from "../lib/shared/protocol.ts";

declare const self: Worker;

/** What the bench asks a worker to do. */
export interface LoadJob {
  kind: "poll" | "push";
  url: string;
  token: string;
  clients: number;
  /** Each client sends once per this many ms. */
  everyMs: number;
  /** When the first request is due, in ms since the epoch (performance.timeOrigin + performance.now()). */
  startMs: number;
  /** How long requests are sent, in ms. */
  durationMs: number;
  /** Requests due before this time (ms since the epoch) warm up the server and this thread, and are not timed (errors still count). */
  measureFromMs: number;
  /** The server's revision when the load starts (where pollers begin). */
  head: number;
  /** Files each push writes (push only). */
  filesPerPush: number;
}

/** What a worker reports once every request it sent has answered (or failed). */
export interface LoadResult {
  kind: LoadJob["kind"];
  /** Requests sent, warm-up included. */
  sent: number;
  /** Per answered request after the warm-up: ms from when it was due to its whole answer (a push: begin to commit result). */
  latencies: number[];
  /** Per request: ms between when it was due and when it went (the generator's own delay). */
  lags: number[];
  errors: number;
  /** The first few error messages. */
  samples: string[];
}

/** How long the requests still running at the end may take before they count as errors. */
const DRAIN_MS = 30_000;

self.onmessage = async (e: MessageEvent<LoadJob>) => {
  postMessage(await runLoad(e.data));
};

/** Sends `job`'s requests on their schedule; resolves once all have answered or failed. */
export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const result: LoadResult = { kind: job.kind, sent: 0, latencies: [], lags: [], errors: 0, samples: [] };
  const api = createClient(job.url, job.token);
  const send = job.kind === "poll" ? _poller(api, job) : _pusher(api, job);
  const gapMs = job.everyMs / job.clients;
  const pending = new Set<Promise<void>>();
  for (let n = 0; ; n++) {
    const due = job.startMs + n * gapMs;
    if (due >= job.startMs + job.durationMs) break;
    const wait = due - _now();
    if (wait > 1) await Bun.sleep(wait);
    const went = _now();
    result.lags.push(Math.max(0, went - due));
    result.sent++;
    const request: Promise<void> = send(n % job.clients, Math.floor(n / job.clients))
      .then(() => {
        if (due >= job.measureFromMs) result.latencies.push(_now() - due);
      })
      .catch((error: unknown) => {
        result.errors++;
        if (result.samples.length < 5) result.samples.push(error instanceof Error ? error.message : String(error));
      })
      .finally(() => pending.delete(request));
    pending.add(request);
  }
  const drained = await Promise.race([Promise.all(pending).then(() => true), Bun.sleep(DRAIN_MS).then(() => false)]);
  if (!drained) {
    result.errors += pending.size;
    result.samples.push(`${pending.size} requests still unanswered ${DRAIN_MS / 1000} s after the last was sent`);
  }
  return result;
}

// ---------------------------------------------------------------------------

/** A poll of client `c`: the changes since the revision it last saw, which then moves on. */
function _poller(api: RemoteClient, job: LoadJob): (c: number) => Promise<void> {
  const seen = new Array<number>(job.clients).fill(job.head);
  return async (c) => {
    const changes = await api.changes(seen[c] as number);
    seen[c] = Math.max(seen[c] as number, changes.revision);
  };
}

/**
 * Push `k` of client `c`: rewrites its own `filesPerPush` files under `load/cC/` (no other client
 * touches them, so no push conflicts), each on the base revision its previous push got.
 */
function _pusher(api: RemoteClient, job: LoadJob): (c: number, k: number) => Promise<void> {
  const base = new Map<string, number>();
  return async (c, k) => {
    const begin = await api.beginPush(`bench-load-${c}`);
    const upserts: Upsert[] = [];
    for (let f = 0; f < job.filesPerPush; f++) {
      const path = `load/c${c}/f${f}.txt`;
      const bytes = `client ${c}, push ${k}, file ${f}\n${"x".repeat(100 + k)}\n`;
      const abs = join(begin.stagePath, ...path.split("/"));
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, bytes, { mode: 0o644 });
      const mtimeNs = (BigInt(Date.now()) * 1_000_000n).toString();
      upserts.push({ path, size: Buffer.byteLength(bytes), md5: md5Bytes(bytes), mode: 0o644, mtimeNs, baseRev: base.get(path) ?? 0 });
    }
    const commit = await api.commitPush({ stage: begin.stage, client: `bench-load-${c}`, upserts, deletes: [], roots: { set: [], remove: [] } });
    for (const u of upserts) base.set(u.path, commit.revision);
  };
}

function _now(): number {
  return performance.timeOrigin + performance.now();
}
