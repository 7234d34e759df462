// AWSAssumeRole access for the operator: the informer's path and status writes (merge patch on the status
// subresource, so spec and metadata are never touched, with a deadline).
import { GROUP, PLURAL, VERSION } from "../api/schema.ts";
import type { KubeClient } from "./client.ts";
import { mergePatchStatus } from "./status-patch.ts";

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
    await mergePatchStatus(
      this.client,
      `${AWSAssumeRoleClient.path(namespace)}/${encodeURIComponent(name)}`,
      { status },
      signal,
    );
  }
}
