// AWSAssumeRole access for the engine: the informer's path and status writes (merge patch on the
// status subresource, so spec and metadata are never touched).
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../api/schema.ts";
import { isNotFound } from "./errors.ts";

export class AWSAssumeRoleClient {
  private readonly custom: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** Watch path for all namespaces, or one. */
  static path(namespace?: string): string {
    return namespace
      ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`
      : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
  }

  async patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (err) {
      // Deleted meanwhile: nothing to report on.
      if (!isNotFound(err)) throw err;
    }
  }
}
