// The one way the operator writes a custom resource's status: a merge patch on the status subresource, so spec and
// metadata are never touched. An object deleted meanwhile is not an error: there is nothing left to report on.
import { isNotFound } from "../runtime/api-errors.ts";
import type { KubeClient } from "./client.ts";

/** `objectPath` is the object's own path (…/<plural>/<name>); `body` is merged into the status subresource. */
export async function mergePatchStatus(
  client: KubeClient,
  objectPath: string,
  body: object,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await client.mergePatch(`${objectPath}/status`, body, { signal });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
