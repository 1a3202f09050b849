import { requireJournalDone, type JournalDeps } from "./journal.ts";

// Who holds the redo journal, in two words of memory shared by the server's threads. The commit
// worker holds it from just before its transaction until its journal run ends; the main thread
// holds it while it finishes a journal left behind, or commits a restore. One holder at a time
// means one journal run at a time. No answer may show a revision whose files are not in the store
// yet: while the worker may have committed one (PLACING), a write waits before it starts, and a
// read's answer waits when the table's head has reached the oldest revision not yet placed.

const IDLE = 0;
/** The main thread holds the journal (to finish it, to commit a restore, or holdJournal's caller). */
const MAIN = 1;
/** The worker may have committed a revision whose files are not all in the store yet. */
const PLACING = 2;
/** The worker's revisions are all in the store; it syncs the store to disk and clears the journal. */
const SYNCING = 3;
/** The oldest revision not yet placed, when none is known: past any head. */
const NOTHING_UNPLACED = 0x7fffffff;

/** The shared words (over a SharedArrayBuffer, so they can be handed to a worker): [state, oldest revision not yet placed, or 0: any]. */
export interface JournalGate {
  readonly word: Int32Array;
}

/** Where a request is: about to write, about to read the table, or holding the answer of a read. */
export type GateStep = "write" | "read" | "answer";

/** A gate over `buffer` (8 bytes; a new one by default): pass the same buffer to each thread. */
export function createJournalGate(buffer: SharedArrayBuffer = new SharedArrayBuffer(8)): JournalGate {
  return { word: new Int32Array(buffer, 0, 2) };
}

/**
 * The worker, before its transaction: blocks until no one holds the journal, then holds it; the
 * store counts as behind the table, from revision `unplacedFrom` on, until `storePlaced` or
 * `leaveJournal`. Never call it on the main thread while something else may hold the gate (it blocks).
 */
export async function enterJournal(gate: JournalGate, unplacedFrom: (() => Promise<number>) | undefined = undefined): Promise<void> {
  for (;;) {
    const was = Atomics.compareExchange(gate.word, 0, IDLE, PLACING);
    if (was === IDLE) break;
    Atomics.wait(gate.word, 0, was, 100);
  }
  // Until it is written the floor is 0, "any revision": a reader meanwhile waits, which is safe.
  if (unplacedFrom) Atomics.store(gate.word, 1, await unplacedFrom());
}

/**
 * The worker: every revision it committed has its files in the store (what is left is syncing and
 * clearing), and so has every revision up to `upTo` when given. A node of a cluster may go on to
 * place later revisions other nodes committed meanwhile: until it lets the journal go, an answer
 * that may show one of those waits.
 */
export function storePlaced(gate: JournalGate, upTo?: number): void {
  Atomics.store(gate.word, 1, upTo === undefined ? NOTHING_UNPLACED : upTo + 1);
  if (Atomics.compareExchange(gate.word, 0, PLACING, SYNCING) === PLACING) Atomics.notify(gate.word, 0);
}

/** Whoever holds the journal lets it go (also after a failure: an entry left in the journal is found by the next request). */
export function leaveJournal(gate: JournalGate): void {
  Atomics.store(gate.word, 1, 0);
  Atomics.store(gate.word, 0, IDLE);
  Atomics.notify(gate.word, 0);
}

/** The worker is gone (it died, or was stopped): whatever it held, it holds no longer. */
export function resetJournalGate(gate: JournalGate): void {
  leaveJournal(gate);
}

/**
 * The main thread: resolves once a request at `step` may go on without showing a store behind
 * its table. "write" (before a request that is not a GET) waits while the worker places files;
 * "read" (before a GET) does not, as "answer" (after the GET's read) waits then only if the table
 * holds a revision the worker has not placed yet. Each finishes what a failed run left in the
 * journal first, or throws SocError "store_behind" (503) when it cannot (requireJournalDone).
 */
export async function storeWhole(gate: JournalGate, deps: JournalDeps, step: GateStep = "write"): Promise<void> {
  for (;;) {
    const state = Atomics.load(gate.word, 0);
    if (state === SYNCING) {
      // The worker's own revisions are placed; one another node committed since may not be yet.
      if (step === "read" || (await deps.table.head()) < Atomics.load(gate.word, 1)) return;
      await _change(gate, state);
      continue;
    }
    if (state === PLACING) {
      // Heads only grow: a head read now below the floor was below it for the read before, too.
      if (step === "read" || (step === "answer" && (await deps.table.head()) < Atomics.load(gate.word, 1))) return;
      await _change(gate, state);
      continue;
    }
    if (!(await deps.table.journal.pending())) return;
    if (state === MAIN) {
      await _change(gate, state); // holdJournal's holder: it finishes the journal before it lets go
      continue;
    }
    if (Atomics.compareExchange(gate.word, 0, IDLE, MAIN) !== IDLE) continue;
    try {
      await requireJournalDone(deps);
    } finally {
      leaveJournal(gate);
    }
    return;
  }
}

/**
 * The main thread: waits until no one holds the journal, then holds it until the result is
 * disposed. Meanwhile a commit in the worker waits before its transaction, and requests are
 * served as long as the journal is empty. Not with an inline committer (its commit would block
 * this very thread).
 */
export async function holdJournal(gate: JournalGate): Promise<Disposable> {
  for (;;) {
    const state = Atomics.compareExchange(gate.word, 0, IDLE, MAIN);
    if (state === IDLE) return { [Symbol.dispose]: () => leaveJournal(gate) };
    await _change(gate, state);
  }
}

/** The main thread: runs `work` (a restore's commit and file work) holding the journal, once the worker lets it go. */
export async function withJournal<T>(gate: JournalGate, work: () => Promise<T>): Promise<T> {
  using _held = await holdJournal(gate);
  return await work();
}

// ---------------------------------------------------------------------------

/** Resolves once the state no longer is `state` (at once if it already changed). */
async function _change(gate: JournalGate, state: number): Promise<void> {
  const wait = Atomics.waitAsync(gate.word, 0, state);
  if (wait.async) await wait.value;
}
