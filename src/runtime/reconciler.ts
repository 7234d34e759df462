// The reconcile side of the runtime: the Reconciler interface every controller and feature implements, and the
// loop that runs it — one WorkQueue of object keys, the per-reconcile deadline and the one error policy (log at
// debug, retry temporary errors with the queue's backoff). Keys are taken only while workers run.
import type { Logger } from "pino";
import { withDeadline } from "./deadline.ts";
import { parseKey } from "./object-key.ts";
import { WorkQueue } from "./queue.ts";
import type { QueueMetricsFor } from "./queue.ts";
import type { ReconcileResult } from "./result.ts";

/** Brings one object (by its key, object-key.ts) to its desired state; level-triggered and idempotent. */
export interface Reconciler {
  reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult>;
}

export interface ReconcileLoopOptions {
  /** For logs and metrics: the kind or feature this loop reconciles. */
  name: string;
  logger: Logger;
  concurrency: number;
  backoff: { baseMs: number; maxMs: number };
  /** Deadline of one reconcile (--reconcile-timeout-ms): its signal aborts then, and it is retried with backoff. */
  reconcileTimeoutMs: number;
  /** The queue's metrics hooks, given the queue's name: `name` in lower case (e.g. "awsassumerole"). */
  metrics?: QueueMetricsFor;
}

export class ReconcileLoop {
  readonly name: string;
  private readonly queue: WorkQueue;
  private working = false;

  constructor(options: ReconcileLoopOptions, reconciler: Reconciler) {
    this.name = options.name;
    const log = options.logger;
    this.queue = new WorkQueue({
      concurrency: options.concurrency,
      backoff: options.backoff,
      handler: (key) =>
        withDeadline(options.reconcileTimeoutMs, (signal) => reconciler.reconcile(key, signal)),
      onError: (key, err, kind) =>
        log.debug(
          { controller: this.name, ...parseKey(key), err: err.message, result: kind },
          kind === "temporaryError" ? "reconcile failed; retrying with backoff" : "reconcile failed",
        ),
      ...(options.metrics ? { metrics: options.metrics(options.name.toLowerCase()) } : {}),
    });
  }

  /** Whether workers run (this replica leads). */
  get running(): boolean {
    return this.working;
  }

  /** Queues the keys (workers running), then starts the workers. */
  start(keys: Iterable<string> = []): void {
    this.working = true;
    for (const key of keys) this.queue.add(key);
    this.queue.start();
  }

  /** Stops taking work and waits for in-flight reconciles. */
  async stop(): Promise<void> {
    this.working = false;
    await this.queue.shutdown();
  }

  /** Reconcile `key` soon; ignored while workers do not run (startWorkers queues every object). */
  add(key: string): void {
    if (this.working) this.queue.add(key);
  }

  /** Drops the key's pending retry and failure count (the object is gone). */
  forget(key: string): void {
    this.queue.forget(key);
  }

  /** Keys ready to run but not running. */
  depth(): number {
    return this.queue.depth();
  }
}
