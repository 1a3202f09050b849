import { describe, expect, test } from "bun:test";
import { checkRsyncArgv } from "../../../lib/server/tunnel-argv.ts";
import { BadInputError } from "../../../lib/shared/errors.ts";

const ID = "0123456789abcdef0123456789abcdef";
const places = {
  store: "/srv/store",
  stage: (id: string) => {
    if (id !== ID) throw new BadInputError(`unknown stage "${id}"`, "no_stage");
    return `/srv/.soc-server/stage/${id}`;
  },
};

// Captured from rsync 3.5.0 run with `-e` pointing at a script that prints its argv (host dropped).
const UPLOAD = ["rsync", "--server", "-tpIRe.LsfxCIvu", ".", `stage/${ID}/`];
const UPLOAD_CHECKSUM = ["rsync", "--server", "-tpcRe.LsfxCIvu", ".", `stage/${ID}/`];
const DOWNLOAD = ["rsync", "--server", "--sender", "-tpIRe.LsfxCIvu", "--files-from=-", "--from0", ".", "store/"];

describe("accepted", () => {
  test("an upload is confined to its stage; the server adds --copy-dest at the store", () => {
    expect(checkRsyncArgv(UPLOAD, places, "/usr/bin/rsync")).toEqual({
      argv: [
        "/usr/bin/rsync",
        "--server",
        "-tpIRe.LsfxCIvu",
        "--munge-links",
        "--confine-root=/srv",
        "--drop-D",
        "--copy-dest=/srv/store",
        "--",
        ".",
        `/srv/.soc-server/stage/${ID}/`,
      ],
      sender: false,
      dir: `/srv/.soc-server/stage/${ID}`,
    });
    expect(checkRsyncArgv(UPLOAD_CHECKSUM, places).argv.slice(0, 3)).toEqual(["rsync", "--server", "-tpcRe.LsfxCIvu"]);
  });

  test("a download is a read-only sender confined to the store", () => {
    expect(checkRsyncArgv(DOWNLOAD, places)).toEqual({
      argv: [
        "rsync",
        "--server",
        "--sender",
        "-tpIRe.LsfxCIvu",
        "--files-from=-",
        "--from0",
        "--munge-links",
        "--confine-root=/srv/store",
        "--",
        ".",
        "/srv/store/",
      ],
      sender: true,
      dir: "/srv/store",
    });
  });

  test("the two argv shapes Apple's openrsync sends (options apart, protocol 29) pass unchanged", () => {
    const upload = ["rsync", "--server", "-p", "-t", "--relative", "--dirs", "--ignore-times", ".", `stage/${ID}/`];
    const accepted = checkRsyncArgv(upload, places);
    expect(accepted.argv.slice(0, 7)).toEqual(upload.slice(0, 7));
    expect(accepted).toMatchObject({ sender: false, dir: `/srv/.soc-server/stage/${ID}` });
    const download = ["rsync", "--server", "--sender", "-p", "-t", "--relative", "--dirs", "--files-from=-", "--from0", ".", "store/"];
    const served = checkRsyncArgv(download, places);
    expect(served.argv.slice(0, 9)).toEqual(download.slice(0, 9));
    expect(served).toMatchObject({ sender: true, dir: "/srv/store" });
  });

  test("an upload with per-file progress (`--progress` sends --log-format=X) passes; a format with escapes does not", () => {
    const upload = ["rsync", "--server", "-tpIRe.LsfxCIvu", "--log-format=X", ".", `stage/${ID}/`];
    expect(checkRsyncArgv(upload, places).argv.slice(0, 4)).toEqual(["rsync", "--server", "-tpIRe.LsfxCIvu", "--log-format=X"]);
    expect(() => checkRsyncArgv(["rsync", "--server", "-tpIR", "--log-format=%f", ".", `stage/${ID}/`], places)).toThrow(
      /refused rsync option --log-format/,
    );
  });

  test("rsync's shell escaping is undone; the capability string's letters are not options", () => {
    const argv = ["rsync", "--server", "--sender", "-te.LsfxCIvu", "--info=STATS", ".", "./store/"];
    expect(checkRsyncArgv(argv, places).argv).toContain("--info=STATS");
    expect(checkRsyncArgv(["rsync", "--server", "-te.LsfxCIvu", ".", `stage/${ID}`], places).dir).toBe(`/srv/.soc-server/stage/${ID}`);
  });
});

describe("refused, naming what", () => {
  const refusals: [string, unknown, string][] = [
    ["not an argv", "rsync --server . store/", "the first frame must be rsync's remote command as a JSON array of strings"],
    ["another program", ["sh", "-c", "id"], 'the remote command must be rsync, got "sh"'],
    ["no --server", ["rsync", "-t", ".", "store/"], 'not an rsync server command (no "--server")'],
    [
      "--rsync-path",
      ["rsync", "--server", "--rsync-path=x", ".", `stage/${ID}/`],
      "refused rsync option --rsync-path: it names a path or program on the server",
    ],
    ["-e sh", ["rsync", "--server", "-e", "sh", ".", `stage/${ID}/`], "refused rsync option -e: it names a path or program on the server"],
    [
      "-s in a cluster",
      ["rsync", "--server", "-tpsIRe.LsfxCIvu", ".", `stage/${ID}/`],
      "refused rsync option -s: it would hide the remaining options from the server's check",
    ],
    [
      "--protect-args",
      ["rsync", "--server", "--protect-args", ".", `stage/${ID}/`],
      "refused rsync option --protect-args: it would hide the remaining options from the server's check",
    ],
    [
      "--secluded-args",
      ["rsync", "--server", "--secluded-args", ".", `stage/${ID}/`],
      "refused rsync option --secluded-args: it would hide the remaining options from the server's check",
    ],
    [
      "--log-file",
      ["rsync", "--server", "--log-file=/tmp/x", ".", `stage/${ID}/`],
      "refused rsync option --log-file: it names a path or program on the server",
    ],
    [
      "--backup-dir",
      ["rsync", "--server", "--backup-dir=x", ".", `stage/${ID}/`],
      "refused rsync option --backup-dir: it names a path or program on the server",
    ],
    [
      "--temp-dir",
      ["rsync", "--server", "--temp-dir=/tmp", ".", `stage/${ID}/`],
      "refused rsync option --temp-dir: it names a path or program on the server",
    ],
    [
      "--partial-dir",
      ["rsync", "--server", "--partial-dir=p", ".", `stage/${ID}/`],
      "refused rsync option --partial-dir: it names a path or program on the server",
    ],
    [
      "--link-dest",
      ["rsync", "--server", "--link-dest=/etc", ".", `stage/${ID}/`],
      "refused rsync option --link-dest: it names a path or program on the server",
    ],
    [
      "--files-from a path",
      ["rsync", "--server", "--sender", "--files-from=/etc/passwd", ".", "store/"],
      "refused rsync option --files-from: it names a path or program on the server",
    ],
    [
      "--exclude-from",
      ["rsync", "--server", "--sender", "--exclude-from=/etc/x", ".", "store/"],
      "refused rsync option --exclude-from: it names a path or program on the server",
    ],
    [
      "--write-batch",
      ["rsync", "--server", "--sender", "--write-batch=b", ".", "store/"],
      "refused rsync option --write-batch: it names a path or program on the server",
    ],
    ["--daemon", ["rsync", "--server", "--daemon", ".", "store/"], "refused rsync option --daemon: it names a path or program on the server"],
    [
      "--remove-source-files",
      ["rsync", "--server", "--sender", "--remove-source-files", ".", "store/"],
      "refused rsync option --remove-source-files: it deletes files on the server",
    ],
    ["--delete", ["rsync", "--server", "--delete", ".", `stage/${ID}/`], "refused rsync option --delete: it deletes files on the server"],
    [
      "-L",
      ["rsync", "--server", "--sender", "-tLe.LsfxCIvu", ".", "store/"],
      "refused rsync option -L: it follows symlinks out of the allowed directory",
    ],
    [
      "an unknown option",
      ["rsync", "--server", "--chown=0:0", ".", `stage/${ID}/`],
      "refused rsync option --chown: it is not allowed through the tunnel",
    ],
    ["../", ["rsync", "--server", "--sender", "-t", ".", "../"], 'refused path "../": ".." is not allowed'],
    ["/etc", ["rsync", "--server", "--sender", "-t", ".", "/etc"], 'refused path "/etc": absolute paths are not allowed'],
    ["escaping a stage", ["rsync", "--server", "-t", ".", `stage/${ID}/../../x`], `refused path "stage/${ID}/../../x": ".." is not allowed`],
    [
      "receiving into store/",
      ["rsync", "--server", "-t", ".", "store/"],
      'refused path "store/": the store changes only through a push commit; upload to "stage/<id>/"',
    ],
    ["below store/", ["rsync", "--server", "--sender", "-t", ".", "store/link/"], 'refused path "store/link/": a download reads "store/" only'],
    ["an unknown stage", ["rsync", "--server", "-t", ".", `stage/${"f".repeat(32)}/`], `unknown stage "${"f".repeat(32)}"`],
    ["two paths", ["rsync", "--server", "--sender", "-t", ".", "store/", "store/"], "expected exactly one path, got 2"],
  ];
  for (const [name, argv, message] of refusals) {
    test(name, () => {
      expect(() => checkRsyncArgv(argv, places)).toThrow(new BadInputError(message));
    });
  }
});

describe("a node with a cache", () => {
  const OTHER = "fedcba9876543210fedcba9876543210";
  const withSessions = (basis: string | undefined) => ({
    ...places,
    sessions: {
      view: (id: string) => {
        if (id !== ID) throw new BadInputError(`unknown view "${id}"`, "no_view");
        return `/srv/.soc-server/view/${id}`;
      },
      basis: (id: string) => (id === ID ? basis : undefined),
    },
  });

  test("a download reads the view it names, and nothing else", () => {
    const view = checkRsyncArgv([...DOWNLOAD.slice(0, -1), `view/${ID}/`], withSessions(undefined));
    expect(view.argv.slice(-5)).toEqual(["--munge-links", `--confine-root=/srv/.soc-server/view/${ID}`, "--", ".", `/srv/.soc-server/view/${ID}/`]);
    expect(view).toMatchObject({ sender: true, dir: `/srv/.soc-server/view/${ID}` });
    expect(() => checkRsyncArgv(DOWNLOAD, withSessions(undefined))).toThrow(
      new BadInputError('refused path "store/": this server keeps a cache, not a tree: a download reads "view/<id>/" only', "refused"),
    );
    expect(() => checkRsyncArgv([...DOWNLOAD.slice(0, -1), `view/${OTHER}/`], withSessions(undefined))).toThrow(`unknown view "${OTHER}"`);
    expect(() => checkRsyncArgv([...DOWNLOAD.slice(0, -1), `view/${ID}/../x`], withSessions(undefined))).toThrow('".." is not allowed');
    // A server keeping its tree has no views.
    expect(() => checkRsyncArgv([...DOWNLOAD.slice(0, -1), `view/${ID}/`], places)).toThrow('a download reads "store/" only');
  });

  test("an upload reuses its stage's basis when its push made one, else nothing", () => {
    const basis = `/srv/.soc-server/basis/${ID}`;
    const withBasis = checkRsyncArgv(UPLOAD, withSessions(basis)).argv;
    expect(withBasis).toContain(`--copy-dest=${basis}`);
    expect(withBasis).toContain("--confine-root=/srv/.soc-server");
    const without = checkRsyncArgv(UPLOAD, withSessions(undefined)).argv;
    expect(without.filter((a) => a.startsWith("--copy-dest"))).toEqual([]);
    expect(without).toContain(`--confine-root=/srv/.soc-server/stage/${ID}`);
  });
});
