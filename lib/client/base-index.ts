import type { Database } from "bun:sqlite";
import { closeSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { baseGeneration, RACY_WINDOW_NS, readBase, readBaseFor, readBaseStats, type BaseEntry } from "./state.ts";

/** Numbers per entry in BaseIndex.stats: size, mtime s, mtime ns, ctime s, ctime ns, settled (see readBaseStats). */
export const BASE_STAT_FIELDS = 6;

/**
 * The base as a scan compares against it, without a string or an object per entry: the stat
 * numbers in one array and the paths as one block of UTF-8, each ended by a NUL (the C stat
 * core matches walked paths against that block directly, stat-core.ts).
 */
export interface BaseIndex {
  /** The base generation this copies. */
  generation: number;
  count: number;
  stats: Float64Array;
  pathBlock: Uint8Array;
  /** The path of entry `j`. */
  pathAt(j: number): string;
  /** For each of `paths`, its entry's index, or -1 (in JS; the C core does this itself). */
  match(paths: readonly string[]): Int32Array;
  /** The whole entries of `paths`, for the few a scan must look at closer. */
  entries(paths: Iterable<string>): Map<string, BaseEntry>;
}

/**
 * The base for a scan: from a snapshot in one file beside the database (`file`, .soc/base-snapshot)
 * when it copies the base's current generation, else from the database, writing a new snapshot
 * for the next scan. One file read costs a fraction of a row per entry (the idea of git's index).
 * The snapshot is only a cache: every change to the base, by any code, moves its generation
 * (triggers, state.ts), so a stale snapshot is never used, and a damaged one is read past.
 */
export function loadBaseIndex(db: Database, file: string): BaseIndex {
  const lookup = (wanted: Iterable<string>, count: number) => _entries(db, wanted, count);
  const stored = _readSnapshot(file, baseGeneration(db));
  if (stored) return _index(stored.generation, stored.stats, stored.pathBlock, lookup);
  const { generation, rows } = readBaseStats(db);
  const stats = new Float64Array(rows.length * BASE_STAT_FIELDS);
  rows.forEach((row, i) => stats.set(row.slice(1) as number[], i * BASE_STAT_FIELDS));
  const index = _index(generation, stats, _pathBlock(rows.map((row) => row[0])), lookup);
  _writeSnapshot(file, index);
  return index;
}

/** How many entries the snapshot at `file` holds, from its header alone (0 without one): about how big the tree is. */
export function snapshotCount(file: string): number {
  return _snapshotHeader(file)?.count ?? 0;
}

/** How many entries the base holds, from the snapshot's header when it copies the base's current generation; undefined when it does not. */
export function currentSnapshotCount(db: Database, file: string): number | undefined {
  const header = _snapshotHeader(file);
  return header && header.generation === baseGeneration(db) ? header.count : undefined;
}

/** The snapshot's generation and entry count, from its header; undefined without a readable one. */
function _snapshotHeader(file: string): { generation: number; count: number } | undefined {
  const head = Buffer.alloc(_HEADER);
  try {
    const fd = openSync(file, "r");
    try {
      if (readSync(fd, head, 0, _HEADER, 0) !== _HEADER || head.toString("latin1", 0, 8) !== _MAGIC) return undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  return { generation: head.readDoubleLE(8), count: head.readDoubleLE(16) };
}

/** A BaseIndex over entries held in memory: a test's, or the few a scan of some paths reads (scan.ts). */
export function baseIndexOf(base: ReadonlyMap<string, BaseEntry>): BaseIndex {
  const all = [...base.values()];
  const stats = new Float64Array(all.length * BASE_STAT_FIELDS);
  all.forEach((b, i) => stats.set(_statNumbers(b), i * BASE_STAT_FIELDS));
  const lookup = (wanted: Iterable<string>) => new Map([...wanted].flatMap((p) => (base.has(p) ? [[p, base.get(p) as BaseEntry] as const] : [])));
  return _index(0, stats, _pathBlock(all.map((b) => b.path)), lookup);
}

/** A change to the base as it bears on its index: entries changed in place, new ones, and positions taken out. */
export interface BasePatch {
  updated: { at: number; entry: BaseEntry }[];
  added: BaseEntry[];
  removed: number[];
}

/**
 * Runs `write`, a change to the base, in one immediate transaction. When the base was still at
 * `index`'s generation as it began, the base is now exactly `index` with `patch` applied: that is
 * written as the snapshot at the new generation, so the next scan need not read the database,
 * and returned. Otherwise (someone else changed the base since `index` was read) the snapshot
 * stays stale for the next scan to rebuild, and this returns undefined.
 */
export function changeBase(db: Database, file: string, index: BaseIndex, patch: BasePatch, write: () => void): BaseIndex | undefined {
  let from = -1;
  let to = -1;
  db.transaction(() => {
    from = baseGeneration(db);
    write();
    to = baseGeneration(db);
  }).immediate();
  if (from !== index.generation) return undefined;
  if (patch.added.length === 0 && patch.removed.length === 0 && _patchInPlace(file, index, patch.updated, to)) return { ...index, generation: to };
  const next = _patched(index, patch, to, (wanted) => _entries(db, wanted, index.count));
  _writeSnapshot(file, next);
  return next;
}

// ---------------------------------------------------------------------------

const _NS = 1_000_000_000n;

/** An entry's BASE_STAT_FIELDS numbers. */
function _statNumbers(b: BaseEntry): number[] {
  const [mtimeS, mtimeNs, ctimeS, ctimeNs] = [b.mtimeNs / _NS, b.mtimeNs % _NS, b.ctimeNs / _NS, b.ctimeNs % _NS].map(Number) as number[];
  return [b.size, mtimeS, mtimeNs, ctimeS, ctimeNs, b.mtimeNs + RACY_WINDOW_NS <= b.checkedNs ? 1 : 0] as number[];
}

/** `index` with `patch` applied, at `generation`. */
function _patched(index: BaseIndex, patch: BasePatch, generation: number, lookup: (wanted: Iterable<string>) => Map<string, BaseEntry>): BaseIndex {
  let stats = index.stats.slice();
  for (const { at, entry } of patch.updated) stats.set(_statNumbers(entry), at * BASE_STAT_FIELDS);
  let block = index.pathBlock;
  if (patch.removed.length > 0) {
    const gone = new Uint8Array(index.count);
    for (const at of patch.removed) gone[at] = 1;
    const keptStats = new Float64Array((index.count - patch.removed.length) * BASE_STAT_FIELDS);
    const pieces: Uint8Array[] = [];
    let run = 0; // where the current run of kept paths began
    for (let at = 0, k = 0, start = 0; at < index.count; at++) {
      const end = block.indexOf(0, start) + 1;
      if (gone[at]) {
        pieces.push(block.subarray(run, start));
        run = end;
      } else keptStats.set(stats.subarray(at * BASE_STAT_FIELDS, (at + 1) * BASE_STAT_FIELDS), k++ * BASE_STAT_FIELDS);
      start = end;
    }
    pieces.push(block.subarray(run));
    stats = keptStats;
    block = Buffer.concat(pieces);
  }
  if (patch.added.length > 0) {
    const grown = new Float64Array(stats.length + patch.added.length * BASE_STAT_FIELDS);
    grown.set(stats);
    patch.added.forEach((b, i) => grown.set(_statNumbers(b), stats.length + i * BASE_STAT_FIELDS));
    stats = grown;
    block = Buffer.concat([block, _pathBlock(patch.added.map((b) => b.path))]);
  }
  return _index(generation, stats, block, lookup);
}

function _index(
  generation: number,
  stats: Float64Array,
  pathBlock: Uint8Array,
  lookup: (wanted: Iterable<string>, count: number) => Map<string, BaseEntry>,
): BaseIndex {
  const count = stats.length / BASE_STAT_FIELDS;
  let starts: Int32Array | undefined;
  const pathAt = (j: number): string => {
    if (!starts) {
      starts = new Int32Array(count + 1);
      for (let k = 0, at = 0; k < count; k++) {
        starts[k] = at;
        at = pathBlock.indexOf(0, at) + 1;
      }
      starts[count] = pathBlock.length;
    }
    return Buffer.from(pathBlock.buffer, pathBlock.byteOffset, pathBlock.byteLength).toString("utf8", starts[j], (starts[j + 1] as number) - 1);
  };
  const match = (wanted: readonly string[]): Int32Array => {
    if (wanted.length === 0) return new Int32Array(0);
    const text = Buffer.from(pathBlock.buffer, pathBlock.byteOffset, pathBlock.byteLength).toString("utf8");
    const all = count > 0 ? text.slice(0, -1).split("\0") : [];
    if (all.length !== count) throw new Error(`the base snapshot is damaged (${all.length} paths where it says ${count}); remove .soc/base-snapshot`);
    const position = new Map<string, number>();
    all.forEach((p, j) => position.set(p, j));
    return Int32Array.from(wanted, (p) => position.get(p) ?? -1);
  };
  return { generation, count, stats, pathBlock, pathAt, match, entries: (wanted) => lookup(wanted, count) };
}

/** Paths as one block of UTF-8, each ended by a NUL (which no path holds). */
function _pathBlock(paths: readonly string[]): Uint8Array {
  return paths.length === 0 ? new Uint8Array(0) : Buffer.from(`${paths.join("\0")}\0`, "utf8");
}

/** The entries of `wanted` from the database: a query each for a few, one pass over the base for many. */
function _entries(db: Database, wanted: Iterable<string>, count: number): Map<string, BaseEntry> {
  const list = [...wanted];
  if (list.length < count / 8) return readBaseFor(db, list);
  const all = readBase(db);
  return new Map(list.flatMap((p) => (all.has(p) ? [[p, all.get(p) as BaseEntry] as const] : [])));
}

/**
 * Snapshot layout, little-endian: 8 bytes magic, then float64s generation, entry count and byte
 * length of the path block; the stat numbers (BASE_STAT_FIELDS per entry, 8-aligned); the path block.
 */
const _MAGIC = "SOCBASE1";
const _HEADER = 32;

function _readSnapshot(file: string, generation: number): { generation: number; stats: Float64Array; pathBlock: Uint8Array } | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
    // A snapshot patched in place while it was read shows another generation by now (see _patchInPlace).
    if (_generationOnDisk(file) !== generation) return undefined;
  } catch {
    return undefined;
  }
  if (bytes.length < _HEADER || bytes.toString("latin1", 0, 8) !== _MAGIC || bytes.byteOffset % 8 !== 0) return undefined;
  const head = new DataView(bytes.buffer, bytes.byteOffset, _HEADER);
  const [stored, count, blockBytes] = [head.getFloat64(8, true), head.getFloat64(16, true), head.getFloat64(24, true)];
  const statBytes = count * BASE_STAT_FIELDS * 8;
  if (stored !== generation || bytes.length !== _HEADER + statBytes + blockBytes) return undefined;
  const pathBlock = bytes.subarray(_HEADER + statBytes);
  // Whether it holds `count` paths is checked where they are matched (stat-core.c, or `match` here).
  if (count > 0 && pathBlock.at(-1) !== 0) return undefined;
  return { generation, stats: new Float64Array(bytes.buffer, bytes.byteOffset + _HEADER, count * BASE_STAT_FIELDS), pathBlock };
}

/** The generation in the header of the snapshot at `file` as it is now. */
function _generationOnDisk(file: string): number {
  const fd = openSync(file, "r");
  try {
    return _headerGeneration(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Rewrites the stat numbers of `updated` entries in the snapshot file itself (a refresh changes a
 * few entries of a large base; rewriting it all would cost more than the scan saved). A seqlock:
 * the header's generation is -1 while the entries change, then `generation`; a reader accepts
 * what it read only when the header says the same generation before and after (_readSnapshot),
 * and a crash half-way leaves -1, never a wrong snapshot. False when the file on disk is not
 * `index`'s (the caller then writes it whole); `index.stats` is updated too.
 */
function _patchInPlace(file: string, index: BaseIndex, updated: BasePatch["updated"], generation: number): boolean {
  let fd: number;
  try {
    fd = openSync(file, "r+");
  } catch {
    return false;
  }
  try {
    if (_headerGeneration(fd) !== index.generation) return false;
    const word = Buffer.alloc(8);
    const setGeneration = (g: number) => {
      word.writeDoubleLE(g);
      writeSync(fd, word, 0, 8, 8);
    };
    setGeneration(-1);
    for (const { at, entry } of updated) {
      const numbers = new Float64Array(_statNumbers(entry));
      index.stats.set(numbers, at * BASE_STAT_FIELDS);
      writeSync(fd, new Uint8Array(numbers.buffer), 0, numbers.byteLength, _HEADER + at * BASE_STAT_FIELDS * 8);
    }
    setGeneration(generation);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

function _headerGeneration(fd: number): number {
  const head = Buffer.alloc(8);
  return readSync(fd, head, 0, 8, 8) === 8 ? head.readDoubleLE(0) : -1;
}

/** Writes the snapshot whole or not at all (a temp file renamed over it); a failure only costs the next scan time. */
function _writeSnapshot(file: string, index: BaseIndex): void {
  const head = new DataView(new ArrayBuffer(_HEADER));
  new Uint8Array(head.buffer).set(Buffer.from(_MAGIC, "latin1"));
  head.setFloat64(8, index.generation, true);
  head.setFloat64(16, index.count, true);
  head.setFloat64(24, index.pathBlock.length, true);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(
      tmp,
      Buffer.concat([
        new Uint8Array(head.buffer),
        new Uint8Array(index.stats.buffer, index.stats.byteOffset, index.stats.byteLength),
        index.pathBlock,
      ]),
    );
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
  }
}
