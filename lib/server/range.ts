/**
 * The one byte range a GET asks for (`Range: bytes=START-[END]`, or the last N with `bytes=-N`)
 * within `size` bytes, as inclusive offsets; undefined to send the whole content (no Range, one
 * this server does not serve, such as several ranges, or an `If-Range` other than `etag`), and
 * "unsatisfiable" for a range that starts past the end (416).
 */
export function requestedRange(
  range: string | null,
  ifRange: string | null,
  etag: string,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (range === null || (ifRange !== null && ifRange !== etag)) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const last = Math.min(Number(m[2]), size);
    return last === 0 ? "unsatisfiable" : { start: size - last, end: size - 1 };
  }
  const start = Number(m[1]);
  if (start >= size) return "unsatisfiable";
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  return end < start ? undefined : { start, end };
}
