import { CLI } from "./cli.ts";

/** A running `soc watch --json` in a working tree; `await using` stops it (SIGTERM, then SIGKILL after 30 s). */
export interface TestWatch extends AsyncDisposable {
  /** The JSON events it printed so far, in order. */
  events(): Record<string, unknown>[];
  /** What it wrote on stderr so far. */
  stderr(): string;
  /** Sends `signal` and resolves with its exit code once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** Sends `signal` (SIGSTOP, SIGCONT) and returns at once. */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts `bun cli.ts watch --json ...args` in `cwd`, run by `wrap` (a command that ends by running
 * its arguments) when given; resolves once it says it is watching.
 */
export async function startWatch(
  cwd: string,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
  wrap: string[] = [],
): Promise<TestWatch> {
  const proc = Bun.spawn([...wrap, "bun", CLI, "watch", "--json", ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  const errDecoder = new TextDecoder();
  const reading = Promise.all([
    (async () => {
      for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true });
    })(),
    (async () => {
      for await (const chunk of proc.stderr) err += errDecoder.decode(chunk, { stream: true });
    })(),
  ]);
  const events = () =>
    out
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (running()) proc.kill(signal);
    const killer = setTimeout(() => running() && proc.kill("SIGKILL"), 30_000);
    const code = await proc.exited;
    clearTimeout(killer);
    await reading;
    return code;
  };
  const deadline = Date.now() + 60_000;
  while (!events().some((e) => e.event === "watching")) {
    if (!running() || Date.now() > deadline) {
      await stop("SIGKILL");
      throw new Error(`soc watch did not start: ${out} ${err}`);
    }
    await Bun.sleep(20);
  }
  return {
    events,
    stderr: () => err,
    stop,
    signal: (signal) => void proc.kill(signal),
    [Symbol.asyncDispose]: async () => {
      if (running()) proc.kill("SIGCONT"); // a stopped one could not act on SIGTERM
      await stop();
    },
  };
}
