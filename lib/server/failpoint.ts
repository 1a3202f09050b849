import { UsageError } from "../shared/errors.ts";

/** The points of a commit where a test can make the server fail or die, in the order they are reached. */
export const FAIL_STEPS = ["staged", "uploaded", "committed", "kept", "deleted", "written", "synced"] as const;

/** A point of a commit: staged files synced, their blobs in the object store, rows committed, then after each file kept, deleted or written, and the store synced. */
export type FailStep = (typeof FAIL_STEPS)[number];

/** Called at each FailStep; a test's failpoint throws or kills the process there, otherwise it is absent. */
export type Failpoint = (step: FailStep) => void;

/** A parsed SOC_TEST_FAILPOINT: `step[@n]:throw|kill`, the n-th time (default the first) the step is reached. */
export interface FailpointSpec {
  step: FailStep;
  nth: number;
  action: "throw" | "kill";
}

/** Parses `step[@n]:throw|kill` (SOC_TEST_FAILPOINT, for crash tests); UsageError when malformed. */
export function parseFailpoint(text: string): FailpointSpec {
  const m = /^([a-z]+)(?:@([1-9][0-9]*))?:(throw|kill)$/.exec(text);
  const step = FAIL_STEPS.find((s) => s === m?.[1]);
  if (!m || step === undefined) {
    throw new UsageError(`SOC_TEST_FAILPOINT must be STEP[@N]:throw|kill with STEP one of ${FAIL_STEPS.join(", ")}; got ${JSON.stringify(text)}`);
  }
  return { step, nth: Number(m[2] ?? 1), action: m[3] as FailpointSpec["action"] };
}

/** A failpoint that can be handed to another thread: its spec and the count of its step so far, shared. */
export interface SharedFailpoint {
  spec: FailpointSpec;
  /** 4 bytes: how many times the step was reached, by any thread. */
  seen: SharedArrayBuffer;
}

/**
 * The failpoint `spec` describes: it fires once, the nth time its step is reached, by throwing or
 * by SIGKILL. Threads made with the same `seen` count together (the commit worker and the main
 * thread finishing what it left); `shared` is what to hand another thread.
 */
export function createFailpoint(spec: FailpointSpec, seen: SharedArrayBuffer = new SharedArrayBuffer(4)): Failpoint & { shared: SharedFailpoint } {
  const count = new Int32Array(seen, 0, 1);
  const failpoint = (step: FailStep) => {
    if (step !== spec.step || Atomics.add(count, 0, 1) + 1 !== spec.nth) return;
    if (spec.action === "kill") process.kill(process.pid, "SIGKILL");
    throw new Error(`failpoint ${spec.step}@${spec.nth}`);
  };
  return Object.assign(failpoint, { shared: { spec, seen } });
}
