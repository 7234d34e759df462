// Deployments, StatefulSets and DaemonSets for rolloutRestart: their list/watch paths, a live read, and the restart
// itself — a merge patch of two Pod-template annotations, as `kubectl rollout restart` does, with the read's
// resourceVersion as precondition (409 when the workload changed meanwhile). Every request has a deadline.
import { AppsV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
import type { WorkloadKind } from "../api/schema.ts";
import type { RawWorkload } from "../domain/rollout-restart.ts";
import { DEFAULT_REQUEST_TIMEOUT_MS, abortOptions, deadline } from "./deadline.ts";
import { isNotFound } from "./errors.ts";

const PLURALS: Record<WorkloadKind, string> = {
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  DaemonSet: "daemonsets",
};

/** List/watch path of a workload kind, in one namespace or all. */
export function workloadPath(kind: WorkloadKind, namespace?: string): string {
  return namespace
    ? `/apis/apps/v1/namespaces/${namespace}/${PLURALS[kind]}`
    : `/apis/apps/v1/${PLURALS[kind]}`;
}

export class WorkloadClient {
  private readonly apps: AppsV1Api;
  private readonly requestTimeoutMs: number;

  constructor(kubeConfig: KubeConfig, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.requestTimeoutMs = requestTimeoutMs;
  }

  async get(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<RawWorkload | undefined> {
    const options = abortOptions(deadline(this.requestTimeoutMs, signal));
    try {
      switch (kind) {
        case "Deployment":
          return (await this.apps.readNamespacedDeployment({ name, namespace }, options)) as RawWorkload;
        case "StatefulSet":
          return (await this.apps.readNamespacedStatefulSet({ name, namespace }, options)) as RawWorkload;
        case "DaemonSet":
          return (await this.apps.readNamespacedDaemonSet({ name, namespace }, options)) as RawWorkload;
      }
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
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
    const options = abortOptions(
      deadline(this.requestTimeoutMs, signal),
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    switch (kind) {
      case "Deployment":
        await this.apps.patchNamespacedDeployment({ name, namespace, body }, options);
        return;
      case "StatefulSet":
        await this.apps.patchNamespacedStatefulSet({ name, namespace, body }, options);
        return;
      case "DaemonSet":
        await this.apps.patchNamespacedDaemonSet({ name, namespace, body }, options);
        return;
    }
  }
}
