// ClusterAWSAssumeRole access for the operator: its informer's path and status writes (merge patch on the status
// subresource of the cluster-scoped object, so spec and metadata are never touched).
import { CLUSTER_PLURAL } from "../api/cluster-schema.ts";
import { GROUP, VERSION } from "../api/schema.ts";
import type { KubeClient } from "./client.ts";
import { isNotFound } from "../runtime/api-errors.ts";

export class ClusterAWSAssumeRoleClient {
  static readonly path = `/apis/${GROUP}/${VERSION}/${CLUSTER_PLURAL}`;
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  async patchStatus(name: string, status: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.mergePatch(
        `${ClusterAWSAssumeRoleClient.path}/${encodeURIComponent(name)}/status`,
        { status },
        { signal },
      );
    } catch (err) {
      // Deleted meanwhile: nothing to report on.
      if (!isNotFound(err)) throw err;
    }
  }
}
