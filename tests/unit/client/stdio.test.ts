import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "../../_harness/fs.ts";

// stdio.ts writes to the descriptors themselves, so each case runs in a child process of its own.
const STDIO = join(ROOT, "lib/client/stdio.ts");

/** Runs `script` (stdio.ts imported as `io`) as `"$@"` within the bash command line `shell`; what it printed. */
function child(script: string, shell = '"$@"') {
  const code = `const io = await import(${JSON.stringify(STDIO)}); ${script}`;
  const res = Bun.spawnSync(["bash", "-c", shell, "bash", process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
  return { stdout: res.stdout.toString(), stderr: res.stderr.toString() };
}

describe("stdio", () => {
  test("stdout and stderr get every byte, in call order", () => {
    const big = "x".repeat(1 << 20);
    const res = child(`io.stdout.write("a\\n"); io.stderr.write("b\\n"); io.stdout.write("x".repeat(1 << 20)); io.stdout.write("\\nc\\n");`);
    expect(res.stdout).toBe(`a\n${big}\nc\n`);
    expect(res.stderr).toBe("b\n");
  });

  test("a reader that goes away (EPIPE) or a closed descriptor ends the output, not the command", () => {
    const script = `for (let i = 0; i < 20000; i++) io.stdout.write("line " + i + "\\n"); io.stderr.write("still here\\n");`;
    const piped = child(script, '"$@" | head -1; echo "exit ${PIPESTATUS[0]}"');
    expect(piped.stdout).toBe("line 0\nexit 0\n");
    expect(piped.stderr).toBe("still here\n");
    expect(child(script, '"$@" >&-').stderr).toBe("still here\n");
  });

  test("isTerminal: a pipe, a file and /dev/null are not terminals", () => {
    const script = `io.stderr.write(JSON.stringify([io.isTerminal(1), io.isTerminal(2)]));`;
    expect(child(script).stderr).toBe("[false,false]");
    expect(child(script, '"$@" >/dev/null 2>&1; "$@" 2>&1 >/dev/null').stdout).toBe("[false,false]");
  });
});
