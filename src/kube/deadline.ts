// A deadline on every Kubernetes request the engine makes: the caller's AbortSignal (the reconcile's deadline)
// combined with a per-request timeout, handed to @kubernetes/client-node's fetch through a request middleware.
import { Observable } from "@kubernetes/client-node";
import type { ConfigurationOptions } from "@kubernetes/client-node";

/** The default per-request timeout of the engine's Kubernetes calls. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** A signal that fires at `timeoutMs` or when `signal` does. */
export function deadline(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** Request options that abort the request when `signal` fires, added to `options` (e.g. setHeaderOptions). */
export function abortOptions(signal: AbortSignal, options?: ConfigurationOptions): ConfigurationOptions {
  return {
    ...options,
    middleware: [
      ...(options?.middleware ?? []),
      {
        pre: (request) => {
          request.setSignal(signal);
          return new Observable(Promise.resolve(request));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}
