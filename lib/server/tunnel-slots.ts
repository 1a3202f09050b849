import { SocError } from "../shared/errors.ts";

/** How many tunnel connections a server serves at once, each with at most one `rsync --server`. */
export interface TunnelSlots {
  readonly max: number;
  /** Whether every slot is held: a new connection would be refused. */
  full(): boolean;
  /** Takes a slot for a new connection; false when all `max` are held. */
  take(): boolean;
  /** Gives back a slot take() gave (once its connection is closed, or its rsync has exited). */
  release(): void;
  /** What a connection past the cap gets (HTTP 503): how many sessions run, and to try again later. */
  busy(): SocError;
}

/** Slots for `max` concurrent tunnel sessions (one set per app: no module state). */
export function createTunnelSlots(max: number): TunnelSlots {
  let held = 0;
  const sessions = `${max} rsync session${max === 1 ? "" : "s"}`;
  return {
    max,
    full: () => held >= max,
    take() {
      if (held >= max) return false;
      held++;
      return true;
    },
    release() {
      if (held > 0) held--;
    },
    busy: () => new SocError("busy", `the server is busy: it is running ${sessions}, its limit; try again later`, { status: 503 }),
  };
}
