// The finalizer helper, as kube-rs's `finalizer()`: the finalizer is added before the first apply, so a deletion can
// always run the cleanup; on deletion the cleanup runs and, once it succeeded, the finalizer is removed. An object
// may need the finalizer only while it asks for something (`needed`): when it no longer does, apply runs once more
// (undoing what it did) and the finalizer is removed after it succeeded.
import { done, failed } from "./result.ts";
import type { ReconcileResult } from "./result.ts";

export interface FinalizerOptions {
  /** The finalizer's name. */
  finalizer: string;
  metadata: { finalizers?: string[]; deletionTimestamp?: string | Date };
  /** Whether the object needs the finalizer now (default true). */
  needed?: boolean;
  /** Writes the object's finalizers (with the object's resourceVersion as precondition). */
  setFinalizers(finalizers: string[]): Promise<void>;
  apply(): Promise<ReconcileResult>;
  cleanup(): Promise<ReconcileResult>;
}

export async function finalizer(options: FinalizerOptions): Promise<ReconcileResult> {
  const current = options.metadata.finalizers ?? [];
  const has = current.includes(options.finalizer);
  const without = () => options.setFinalizers(current.filter((f) => f !== options.finalizer));
  if (options.metadata.deletionTimestamp) {
    if (!has) return done();
    const result = await options.cleanup();
    if (!failed(result)) await without();
    return result;
  }
  const needed = options.needed ?? true;
  if (needed && !has) {
    await options.setFinalizers([...current, options.finalizer]);
    return done(); // the watch brings the object back with its finalizer
  }
  const result = await options.apply();
  if (!needed && has && !failed(result)) await without();
  return result;
}
