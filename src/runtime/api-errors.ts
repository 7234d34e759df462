// The errors the Kubernetes port throws, classified by HTTP status: callers decide on conflicts, absence and refusals
// without parsing text or knowing the transport (src/kube's errors carry `statusCode`; client-node's carry `code`).

export function statusCode(err: unknown): number | undefined {
  const code =
    (err as { code?: unknown; statusCode?: unknown } | null)?.statusCode ?? (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isForbidden = (err: unknown): boolean => statusCode(err) === 403;

/** A short message for logs and status: the API's own message when it sent a Status object. */
export function apiErrorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
