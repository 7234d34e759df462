// Test helpers of the work queue (not part of the build): a handler whose runs stay in flight until released, a
// settle step for the queue's continuations, and a queue with concurrency 1 by default.
import assert from "node:assert/strict";
import { WorkQueue } from "./queue.ts";
import type { WorkQueueOptions } from "./queue.ts";
import type { ReconcileResult } from "./result.ts";

// Lets handler promises and the queue's continuations run; setImmediate is not mocked.
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A handler whose runs stay in flight until the test releases them. */
export function gatedHandler() {
  const calls: string[] = [];
  const pending: { key: string; release: (r?: ReconcileResult) => void; fail: (e: unknown) => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const runningKeys = new Set<string>();
  let overlap = false;
  const handler = (key: string): Promise<ReconcileResult> => {
    calls.push(key);
    if (runningKeys.has(key)) overlap = true;
    runningKeys.add(key);
    running++;
    maxRunning = Math.max(maxRunning, running);
    return new Promise<ReconcileResult>((resolve, reject) => {
      const done = () => {
        running--;
        runningKeys.delete(key);
      };
      pending.push({
        key,
        release: (r) => {
          done();
          resolve(r ?? { kind: "done" });
        },
        fail: (e) => {
          done();
          reject(e);
        },
      });
    });
  };
  return {
    handler,
    calls,
    pending,
    maxRunning: () => maxRunning,
    overlap: () => overlap,
    /** Release the oldest in-flight run of `key` (or the oldest overall). */
    release(key?: string, result?: ReconcileResult) {
      const i = key === undefined ? 0 : pending.findIndex((p) => p.key === key);
      assert.ok(i >= 0, `no in-flight run for ${key}`);
      const [p] = pending.splice(i, 1);
      p!.release(result);
    },
    fail(key: string, err: unknown) {
      const i = pending.findIndex((p) => p.key === key);
      assert.ok(i >= 0, `no in-flight run for ${key}`);
      const [p] = pending.splice(i, 1);
      p!.fail(err);
    },
  };
}

export function queue(opts: Partial<WorkQueueOptions> & Pick<WorkQueueOptions, "handler">): WorkQueue {
  return new WorkQueue({ concurrency: 1, ...opts });
}
