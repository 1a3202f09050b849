import { createConsola, type ConsolaInstance, type LogObject } from "consola/core";
import { stderr, stdout } from "./stdio.ts";

/** Where soc's messages go: results on stdout, warnings and errors on stderr, never mixed. */
export interface Logger {
  /** A human result line (stdout); silent with `quiet`. */
  info(message: string): void;
  /** A problem that did not stop the command (stderr, prefixed `warning:`). */
  warn(message: string): void;
  /** A problem that did (stderr, prefixed `error:`). */
  error(message: string): void;
}

/** Writable text sinks; tests pass their own. */
export interface Sinks {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** A logger over consola with a plain reporter: no colours, dates or badges, so output is greppable. */
export function createLogger(opts: { quiet?: boolean; sinks?: Sinks } = {}): Logger {
  const sinks = opts.sinks ?? { stdout, stderr };
  const consola: ConsolaInstance = createConsola({
    level: opts.quiet ? 1 : 3,
    reporters: [{ log: (obj: LogObject) => _report(obj, sinks) }],
  });
  return {
    info: (message) => consola.info(message),
    warn: (message) => consola.warn(message),
    error: (message) => consola.error(message),
  };
}

// ---------------------------------------------------------------------------

function _report(obj: LogObject, sinks: Sinks): void {
  const text = obj.args.map(String).join(" ");
  if (obj.type === "error" || obj.type === "fatal") sinks.stderr.write(`error: ${text}\n`);
  else if (obj.type === "warn") sinks.stderr.write(`warning: ${text}\n`);
  else sinks.stdout.write(`${text}\n`);
}
