// AWSAssumeRole access for the engine: the informer's path and status writes (merge patch on the status
// subresource, so spec and metadata are never touched, with a deadline).
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../api/schema.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS, abortOptions, deadline } from "./deadline.ts";
import { isNotFound } from "./errors.ts";

export class AWSAssumeRoleClient {
  private readonly custom: CustomObjectsApi;
  private readonly requestTimeoutMs: number;

  constructor(kubeConfig: KubeConfig, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.requestTimeoutMs = requestTimeoutMs;
  }

  /** Watch path for all namespaces, or one. */
  static path(namespace?: string): string {
    return namespace
      ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`
      : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
  }

  async patchStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
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
