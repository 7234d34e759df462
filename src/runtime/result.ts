// What one reconcile tells the queue, as a type (controller-runtime's Result + TerminalError, kopf's
// TemporaryError/PermanentError): done, look again after a delay, a temporary error (retry with backoff), or a
// terminal error (retrying cannot help until something changes).

export type ReconcileResult =
  /** Nothing to do until a watch event says something changed. */
  | { readonly kind: "done" }
  /** Look again after `delayMs` (a scheduled refresh, a conflict that is checked periodically). */
  | { readonly kind: "requeueAfter"; readonly delayMs: number }
  /**
   * Retry with the queue's exponential backoff. `retryAfterMs` replaces the backoff for this retry (0: at once,
   * e.g. after an optimistic-concurrency conflict); `maxBackoffMs` raises or lowers the backoff cap for it.
   */
  | {
      readonly kind: "temporaryError";
      readonly error: Error;
      readonly retryAfterMs?: number;
      readonly maxBackoffMs?: number;
    }
  /**
   * Retrying the same thing cannot help; the problem is reported in status. `recheckAfterMs` looks again after a
   * fixed delay (the fix may happen outside Kubernetes, e.g. an IAM trust policy); undefined waits for a change.
   */
  | { readonly kind: "terminalError"; readonly error: Error; readonly recheckAfterMs?: number };

export const done = (): ReconcileResult => ({ kind: "done" });

export const requeueAfter = (delayMs: number): ReconcileResult => ({
  kind: "requeueAfter",
  delayMs: Math.max(0, delayMs),
});

export const temporaryError = (
  error: Error,
  options: { retryAfterMs?: number; maxBackoffMs?: number } = {},
): ReconcileResult => ({ kind: "temporaryError", error, ...options });

export const terminalError = (error: Error, recheckAfterMs?: number): ReconcileResult => ({
  kind: "terminalError",
  error,
  ...(recheckAfterMs !== undefined ? { recheckAfterMs } : {}),
});

/** Whether the result reports a failure (for metrics and logs). */
export function failed(result: ReconcileResult): boolean {
  return result.kind === "temporaryError" || result.kind === "terminalError";
}
