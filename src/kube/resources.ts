// AWSAssumeRole access for the operator: the informer's path and status writes (merge patch on the status
// subresource, so spec and metadata are never touched, with a deadline).
import { GROUP, PLURAL, VERSION } from "../api/schema.ts";
import type { KubeClient } from "./client.ts";
import { isNotFound } from "../runtime/api-errors.ts";

export class AWSAssumeRoleClient {
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** Watch path for all namespaces, or one. */
  static path(namespace?: string): string {
    return namespace
      ? `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}`
      : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
  }

  async patchStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.client.mergePatch(
        `${AWSAssumeRoleClient.path(namespace)}/${encodeURIComponent(name)}/status`,
        { status },
        { signal },
      );
    } catch (err) {
      // Deleted meanwhile: nothing to report on.
      if (!isNotFound(err)) throw err;
    }
  }
}
