import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The first lines of `rsync --version` from each kind soc tells apart. */
export const VERSION_TEXTS = {
  openrsync: "openrsync: protocol version 29\nrsync version 2.6.9 compatible\n",
  rsync269:
    "rsync  version 2.6.9  protocol version 29\nCopyright (C) 1996-2006 by Andrew Tridgell, Wayne Davison and others.\n<http://rsync.samba.org/>\n" +
    "Capabilities: 64-bit files, socketpairs, hard links, symlinks, batchfiles,\n              inplace, IPv6, 64-bit system inums, 64-bit internal inums\n",
  rsync309: "rsync  version 3.0.9  protocol version 30\nCopyright (C) 1996-2011 by Andrew Tridgell, Wayne Davison, and others.\n",
  rsync323: "rsync  version v3.2.3  protocol version 31\nCopyright (C) 1996-2020 by Andrew Tridgell, Wayne Davison, and others.\n",
  rsync350: "rsync  version 3.5.0  protocol version 32\nCopyright (C) 1996-2026 by Andrew Tridgell, Wayne Davison, and others.\n",
};

/**
 * Writes `dir/bin/rsync`, which behaves as Apple's openrsync does where soc can tell: it prints
 * openrsync's version text, refuses any `--info=` the way openrsync does (exit 1, nothing
 * transferred), leaves the directories it creates implicitly with their source modes (it drops
 * `--chmod`, which soc applies to directories only), and otherwise runs the real rsync (`real`,
 * an absolute path) speaking protocol 29. Returns its bin directory, to put first on PATH, its
 * path, and the argv of each run so far.
 */
export function openrsyncShim(dir: string, real: string): { bin: string; path: string; calls(): string[] } {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const shim = join(bin, "rsync");
  const log = join(dir, "openrsync-calls.log");
  writeFileSync(
    shim,
    `#!/bin/bash
printf '%s\\n' "$*" >> ${_shellQuote(log)}
args=()
for a in "$@"; do
  case "$a" in
    --version) printf '%s' ${_shellQuote(VERSION_TEXTS.openrsync)}; exit 0 ;;
    --info=*) echo "rsync: unrecognized option '$a'" >&2; echo "usage: rsync [-aBCcDdgHhKLlmnOoPpRrStuVvxz] ..." >&2; exit 1 ;;
    --chmod=*) ;;
    *) args+=("$a") ;;
  esac
done
exec ${_shellQuote(real)} --protocol=29 "\${args[@]}"
`,
  );
  chmodSync(shim, 0o755);
  return { bin, path: shim, calls: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []) };
}

function _shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}
