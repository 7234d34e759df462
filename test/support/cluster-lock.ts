// One operator with --cluster-assume-roles at a time across test files: each one sees every ClusterAWSAssumeRole in
// the world and would write the status of another test's resources. A lock directory in .testenv, held by a pid.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { killOperators } from "./operator.ts";
import { ROOT } from "./world.ts";
import type { TestContext } from "./world.ts";

const LOCK = join(ROOT, ".testenv", "cluster-operator.lock");

function holderAlive(): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(LOCK, "pid"), "utf8"));
  } catch {
    return true; // being taken right now: the pid file follows the directory
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Waits for the lock and holds it until the test ends; then every operator this process started is killed first,
 * so no two cluster operators ever overlap.
 */
export async function clusterOperatorLock(t: TestContext, timeoutMs = 900_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  mkdirSync(dirname(LOCK), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, "pid"), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (!holderAlive()) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK}`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  t.after(async () => {
    await killOperators();
    rmSync(LOCK, { recursive: true, force: true });
  });
}
