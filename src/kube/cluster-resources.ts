// ClusterAWSAssumeRole access for the operator: its informer's path and status writes (merge patch on the status
// subresource of the cluster-scoped object, so spec and metadata are never touched).
import { CLUSTER_PLURAL } from "../api/cluster-schema.ts";
import { GROUP, VERSION } from "../api/schema.ts";
import type { KubeClient } from "./client.ts";
import { mergePatchStatus } from "./status-patch.ts";

export class ClusterAWSAssumeRoleClient {
  static readonly path = `/apis/${GROUP}/${VERSION}/${CLUSTER_PLURAL}`;
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  async patchStatus(name: string, status: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    await mergePatchStatus(
      this.client,
      `${ClusterAWSAssumeRoleClient.path}/${encodeURIComponent(name)}`,
      { status },
      signal,
    );
  }
}
