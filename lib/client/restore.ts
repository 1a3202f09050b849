import { rmSync } from "node:fs";
import { SocError, UsageError } from "../shared/errors.ts";
import { placeFile, tempBeside } from "../shared/fs.ts";
import { md5File } from "../shared/hash.ts";
import { quotePath } from "../shared/paths.ts";
import type { RemoteClient, RemoteContent } from "./api.ts";

/** What `soc restore --to` wrote: the repository path, the revision asked for (null: the current one), the file written. */
export interface RestoredToFile {
  path: string;
  rev: number | null;
  to: string;
}

/**
 * Writes the content of repository `path` as of revision `rev` (default: the current one) to
 * `target` (absolute; `shown` is how the user named it), which must not exist. The bytes land in
 * a temp file beside `target` and take its name only once their md5 equals the one the server
 * names, so a failure leaves nothing at `target` (and no temp file). Throws SocError
 * "bad_content" when the digests differ or the server named none, UsageError when `target`
 * appeared meanwhile, and whatever the server or the filesystem raised.
 */
export async function restoreToFile(
  remote: RemoteClient,
  path: string,
  rev: number | undefined,
  target: string,
  shown: string,
): Promise<RestoredToFile> {
  const content = await remote.content(path, rev);
  const tmp = tempBeside(target);
  try {
    await Bun.write(tmp, new Response(content.body));
    checkContent(path, content, md5File(tmp), target);
    _placeNew(tmp, target, shown);
  } finally {
    rmSync(tmp, { force: true }); // only left by a failure
  }
  return { path, rev: rev ?? null, to: target };
}

/** Throws SocError "bad_content", naming `path` and both digests, unless `actual` is the md5 the server named for `content`. */
export function checkContent(path: string, content: Pick<RemoteContent, "md5">, actual: string, target: string): void {
  if (content.md5 === actual) return;
  const why =
    content.md5 === undefined
      ? "named no md5 to check them against (no x-soc-md5 header: an old server, or a proxy dropping it)"
      : `named md5 ${content.md5} for them; its copy may be damaged (\`soc verify --server\`)`;
  throw new SocError("bad_content", `${quotePath(path)}: the server sent bytes with md5 ${actual} but ${why}; nothing was written to ${target}`);
}

// ---------------------------------------------------------------------------

/** Gives `tmp` the name `target` unless something took that name meanwhile (never replaced). */
function _placeNew(tmp: string, target: string, shown: string): void {
  try {
    placeFile(tmp, target, { replace: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new UsageError(`${shown}: already exists; choose a new file for --to`);
    throw error;
  }
}
