// The per-reconcile deadline: one AbortSignal that aborts after the reconcile timeout (--reconcile-timeout-ms), so
// every outside call a reconcile makes ends by then. Built on setTimeout (not AbortSignal.timeout) so tests can
// drive it with node:test's mock timers.

/** Runs `run` with a signal that aborts after `timeoutMs`; the timer is cleared when `run` settles. */
export async function withDeadline<T>(
  timeoutMs: number,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`reconcile deadline of ${timeoutMs} ms passed`, "TimeoutError")),
    timeoutMs,
  );
  try {
    return await run(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}
