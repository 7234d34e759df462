// ClusterAWSAssumeRole access for the engine: its informer's path and status writes (merge patch on the status
// subresource of the cluster-scoped object, so spec and metadata are never touched).
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import { CLUSTER_PLURAL } from "../api/cluster-schema.ts";
import { GROUP, VERSION } from "../api/schema.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS, abortOptions, deadline } from "./deadline.ts";
import { isNotFound } from "./errors.ts";

export class ClusterAWSAssumeRoleClient {
  static readonly path = `/apis/${GROUP}/${VERSION}/${CLUSTER_PLURAL}`;
  private readonly custom: CustomObjectsApi;
  private readonly requestTimeoutMs: number;

  constructor(kubeConfig: KubeConfig, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.requestTimeoutMs = requestTimeoutMs;
  }

  async patchStatus(name: string, status: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    try {
      await this.custom.patchClusterCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: CLUSTER_PLURAL, name, body: { status } },
        abortOptions(
          deadline(this.requestTimeoutMs, signal),
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        ),
      );
    } catch (err) {
      // Deleted meanwhile: nothing to report on.
      if (!isNotFound(err)) throw err;
    }
  }
}
