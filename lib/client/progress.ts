/** What a progress bar counts: files (hashing) or bytes (transfers). */
export type ProgressUnit = "files" | "bytes";

/** Where long steps report how far they are: a bar redrawn in place on a terminal, or nowhere. */
export interface Progress {
  /** Shows step `label` at `done` of `total` `unit`s; `total` 0 means not known yet (label only). */
  update(label: string, done: number, total: number, unit?: ProgressUnit): void;
  /** Ends the current step: its bar is replaced by `summary` on a line of its own, or erased without one. */
  finish(summary?: string): void;
}

/** A Progress that shows nothing (not a terminal, --quiet, --json, tests). */
export const noProgress: Progress = { update: () => {}, finish: () => {} };

/** One line of rsync's progress: `--info=progress2` (the whole run) or `--progress` (one file). */
export interface RsyncProgress {
  /** Bytes of file data done so far: over the whole run, or of the file for a `--progress` line (runRsync adds the files before). */
  bytes: number;
  /** rsync's own percentage: of the run's total size, or of the file. */
  percent: number;
  /** rsync's rate as printed, e.g. `10.50MB/s`. */
  rate: string;
  /** Files transferred so far, from `(xfr#N, to-chk=R/T)` when the line has it. */
  transferred?: number;
  /** Files rsync still has to check, and how many it knows of (`to-chk=R/T`, or `ir-chk` while it still lists). */
  toCheck?: number;
  total?: number;
}

/**
 * A Progress drawing one line on `out` with `\r` (no other control sequences, so NO_COLOR output
 * is plain text); `color` tints the bar. Redraws at most every `intervalMs` (default 100) unless
 * the step changes or completes, and never with the same text. `columns` is the terminal width (default 80).
 */
export function createProgress(
  out: { write(text: string): unknown },
  opts: { color: boolean; columns?: () => number | undefined; now?: () => number; intervalMs?: number },
): Progress {
  const now = opts.now ?? (() => performance.now());
  const intervalMs = opts.intervalMs ?? 100;
  let shown = 0;
  let last = "";
  let label = "";
  let started = 0;
  let drawnAt = Number.NEGATIVE_INFINITY;
  const draw = (text: string) => {
    const visible = text.replace(/\x1b\[[0-9;]*m/g, "").length;
    out.write(`\r${text}${" ".repeat(Math.max(0, shown - visible))}`);
    [shown, last] = [visible, text];
  };
  return {
    update(step, done, total, unit = "files") {
      const t = now();
      if (step !== label) [label, started, drawnAt] = [step, t, Number.NEGATIVE_INFINITY];
      if (t - drawnAt < intervalMs && done < total) return;
      drawnAt = t;
      // A pseudo-terminal without a size reports 0 columns.
      const width = Math.max(20, (opts.columns?.() || 80) - 1);
      const text = _barLine({ label: step, done, total, unit, seconds: (t - started) / 1000, width, color: opts.color });
      if (text !== last || shown === 0) draw(text);
    },
    finish(summary) {
      if (shown > 0) {
        draw("");
        out.write("\r");
      }
      if (summary !== undefined) out.write(`${summary}\n`);
      label = "";
    },
  };
}

/**
 * Parses one `--info=progress2` line (`  1,234,567  12%  10.50MB/s    0:00:05 (xfr#3, to-chk=7/10)`)
 * or `--progress` line (the same, per file; rsync 2.6.9 writes `(xfer#3, to-check=7/10)`), or
 * returns undefined for anything else. Digit groups may be `,`, `.` or `'` by locale.
 */
export function parseProgress2(line: string): RsyncProgress | undefined {
  const m =
    /^\s*([0-9][0-9,.']*)\s+([0-9]{1,3})%\s+(\S+\/s)\s+[0-9?]+:[0-9?]{2}:[0-9?]{2}(?:\s+\(xfe?r#([0-9]+),\s+(?:to|ir)-ch(?:ec)?k=([0-9]+)\/([0-9]+)\))?\s*$/.exec(
      line,
    );
  if (!m) return undefined;
  const out: RsyncProgress = { bytes: Number((m[1] as string).replace(/[^0-9]/g, "")), percent: Number(m[2]), rate: m[3] as string };
  if (m[4] !== undefined) Object.assign(out, { transferred: Number(m[4]), toCheck: Number(m[5]), total: Number(m[6]) });
  return out;
}

/**
 * Shows an rsync run of `totalBytes` as step `sending`/`receiving` on `progress`; `finish()`
 * prints the totals (`sent 50.0 MiB in 1.2 s (41.7 MiB/s)`), or nothing when no byte moved.
 */
export function meterTransfer(progress: Progress, direction: "send" | "receive", totalBytes: number, now: () => number = () => performance.now()) {
  const started = now();
  let bytes = 0;
  return {
    onProgress(p: { bytes: number }): void {
      bytes = p.bytes;
      progress.update(direction === "send" ? "sending" : "receiving", Math.min(bytes, totalBytes), totalBytes, "bytes");
    },
    finish(): void {
      const seconds = (now() - started) / 1000;
      if (bytes === 0) return progress.finish();
      progress.finish(
        `${direction === "send" ? "sent" : "received"} ${formatBytes(bytes)} in ${_seconds(seconds)} (${formatBytes(bytes / Math.max(seconds, 0.001))}/s)`,
      );
    },
  };
}

/** `n` bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `50.0 MiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
}

// ---------------------------------------------------------------------------

function _barLine(o: { label: string; done: number; total: number; unit: ProgressUnit; seconds: number; width: number; color: boolean }): string {
  if (o.total <= 0) return `${o.label}...`.slice(0, o.width);
  const fraction = Math.min(1, o.done / o.total);
  const count = o.unit === "bytes" ? `${formatBytes(o.done)} / ${formatBytes(o.total)}` : `${o.done} / ${o.total} files`;
  const rate = o.unit === "bytes" && o.seconds > 0.2 ? `  ${formatBytes(o.done / o.seconds)}/s` : "";
  const text = ` ${String(Math.floor(fraction * 100)).padStart(3)}%  ${count}${rate}`;
  // Room kept for the longest counts (` 100%  1023.9 MiB / 1023.9 MiB  1023.9 MiB/s`), so the bar does not jitter.
  const barWidth = Math.min(30, o.width - o.label.length - 3 - 44);
  if (barWidth < 5) return `${o.label}${text}`.slice(0, o.width);
  const filled = Math.round(fraction * barWidth);
  const bar = "#".repeat(filled) + "-".repeat(barWidth - filled);
  return `${o.label} [${o.color ? `\x1b[36m${bar}\x1b[39m` : bar}]${text}`;
}

function _seconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}
