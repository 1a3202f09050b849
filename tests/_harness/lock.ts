import { join } from "node:path";
import { ROOT } from "./fs.ts";

/**
 * Another process holding the soc lock at `file`, as a soc run does (acquireLock, then a long
 * sleep); it has the lock when this resolves. Killing it frees the lock; `await using` does.
 */
export async function holdLock(file: string): Promise<Bun.Subprocess & AsyncDisposable> {
  const script = `import { acquireLock } from ${JSON.stringify(join(ROOT, "lib/client/lock.ts"))};
    await acquireLock(${JSON.stringify(file)}, 0); console.log("held"); await Bun.sleep(600_000);`;
  const holder = Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
  const { value } = await holder.stdout.getReader().read();
  if (new TextDecoder().decode(value) !== "held\n") {
    holder.kill("SIGKILL");
    throw new Error(`the lock holder did not take ${file}`);
  }
  return holder;
}
