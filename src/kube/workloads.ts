// Deployments, StatefulSets and DaemonSets for rolloutRestart: their list/watch paths, a live read, and the restart
// itself — a merge patch of two Pod-template annotations, as `kubectl rollout restart` does, with the read's
// resourceVersion as precondition (409 when the workload changed meanwhile). Every request has a deadline.
import type { WorkloadKind } from "../api/schema.ts";
import type { RawWorkload } from "../domain/rollout-restart.ts";
import type { KubeClient } from "./client.ts";

const PLURALS: Record<WorkloadKind, string> = {
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  DaemonSet: "daemonsets",
};

/** List/watch path of a workload kind, in one namespace or all. */
export function workloadPath(kind: WorkloadKind, namespace?: string): string {
  return namespace
    ? `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/${PLURALS[kind]}`
    : `/apis/apps/v1/${PLURALS[kind]}`;
}

const workloadItemPath = (kind: WorkloadKind, namespace: string, name: string) =>
  `${workloadPath(kind, namespace)}/${encodeURIComponent(name)}`;

export class WorkloadClient {
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  get(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<RawWorkload | undefined> {
    return this.client.getIfExists<RawWorkload>(workloadItemPath(kind, namespace, name), { signal });
  }

  /** Sets Pod-template annotations (a rollout), only if the workload is still at `resourceVersion`. */
  async patchTemplateAnnotations(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    resourceVersion: string,
    annotations: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<void> {
    const body = {
      metadata: { resourceVersion },
      spec: { template: { metadata: { annotations } } },
    };
    await this.client.mergePatch(workloadItemPath(kind, namespace, name), body, { signal });
  }
}
