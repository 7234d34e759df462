// The stand-in for a kind whose feature is off (ClusterAWSAssumeRole without --cluster-assume-roles,
// AWSPodIdentityAssociation without --pod-identity): it watches that kind and tells each resource, once per
// generation, that this operator does not serve it (Ready=False, FeatureDisabled, one Warning event). No AWS call, no
// Secret. Its cache fills apart from the shared ones: a chart that does not grant the kind must not hold up readiness.
import type { Logger } from "pino";
import type { Condition } from "../api/schema.ts";
import type { EventSink, ReadinessObserver } from "../credentials/ports.ts";
import { Reason, readyCondition, setCondition } from "../domain/conditions.ts";
import { featureDisabledMessage, needsDisabledReport } from "../domain/feature-disabled.ts";
import type { DisabledKind } from "../domain/feature-disabled.ts";
import { isConflict, isNotFound } from "../runtime/api-errors.ts";
import { Controller } from "../runtime/controller.ts";
import { InformerGroup } from "../runtime/informer-group.ts";
import type { Informers } from "../runtime/informer-group.ts";
import { parseKey } from "../runtime/object-key.ts";
import type { QueueMetricsFor } from "../runtime/queue.ts";
import type { Reconciler } from "../runtime/reconciler.ts";
import { done } from "../runtime/result.ts";
import type { ReconcileResult } from "../runtime/result.ts";
import type { Feature } from "./feature.ts";

/** What the stand-in reads of a resource: its identity, generation and Ready condition. */
export interface ReportedResource {
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string | Date;
  };
  status?: { conditions?: Condition[] };
}

export interface KindDisabledOptions extends DisabledKind {
  apiVersion: string;
  /** Cluster-scoped kinds are watched once; namespaced ones in each watched namespace. */
  clusterScoped: boolean;
  /**
   * Replace, once per generation, a report a serving controller left (an earlier run with the flag on). Only for a
   * kind one install per cluster serves: where another install may serve the kind, its report stands.
   */
  overwrite: boolean;
  informers: Informers;
  /** Watched namespaces (--namespaces); empty = all. Ignored for a cluster-scoped kind. */
  watchedNamespaces: readonly string[];
  /** The list and watch path, in one namespace or all. */
  path(namespace?: string): string;
  /**
   * Merge-patches the status subresource, with `resourceVersion` as a precondition (409 when the resource changed
   * since it was read: a serving controller may just have written).
   */
  patchStatus(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    status: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void>;
  events: EventSink;
  logger: Logger;
  backoff: { baseMs: number; maxMs: number };
  reconcileTimeoutMs: number;
  queueMetrics?: QueueMetricsFor;
  /** The per-resource readiness metric: the resources of this kind too (reason FeatureDisabled once told). */
  readiness?: ReadinessObserver;
  now?: () => Date;
}

export class KindDisabled implements Feature, Reconciler {
  readonly name: string;
  readonly resources: InformerGroup<ReportedResource>;
  private readonly options: KindDisabledOptions;
  private readonly message: string;
  private readonly controller: Controller<ReportedResource>;
  private readonly now: () => Date;
  /** `${uid}/${generation}` of resources told already (one event per generation; pruned on delete). */
  private readonly told = new Set<string>();
  private cachesStarted: Promise<void> | undefined;
  private working = false;

  constructor(options: KindDisabledOptions) {
    this.options = options;
    this.name = `${options.kind}-disabled`;
    this.message = featureDisabledMessage(options);
    this.now = options.now ?? (() => new Date());
    const plural = options.kind.toLowerCase() + "s";
    this.resources = new InformerGroup<ReportedResource>({
      informers: options.informers,
      scopes: options.clusterScoped ? [] : options.watchedNamespaces,
      spec: (ns) => ({
        name: `${plural}@${ns ?? "*"}`,
        path: options.path(ns),
        transform: (obj) => reported(obj as ReportedResource),
      }),
    });
    this.controller = new Controller<ReportedResource>({
      name: this.name,
      clusterScoped: options.clusterScoped,
      logger: options.logger,
      concurrency: 1,
      backoff: options.backoff,
      reconcileTimeoutMs: options.reconcileTimeoutMs,
      ...(options.queueMetrics ? { metrics: options.queueMetrics } : {}),
    })
      // Someone else's status write may remove the report: look again (no AWS call, so cheap).
      .for(this.resources, { reconcileStatusOnly: () => true })
      .observe((r, change) => {
        if (!change.deleted) return;
        const uid = `${r.metadata.uid}/`;
        for (const t of this.told) if (t.startsWith(uid)) this.told.delete(t);
      })
      .run(this);
    if (options.readiness) this.controller.observe(options.readiness(options.kind));
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { namespace, name } = parseKey(key);
    const resource = this.resources.get(namespace, name);
    if (!resource || resource.metadata.deletionTimestamp) return done();
    const { generation, uid, resourceVersion } = resource.metadata;
    const told = `${uid}/${generation}`;
    const needed = needsDisabledReport(resource.status?.conditions, generation, this.message, {
      overwrite: this.options.overwrite,
      toldAlready: this.told.has(told),
    });
    if (!needed) return done();
    const condition = readyCondition("False", Reason.FeatureDisabled, this.message, generation);
    try {
      await this.options.patchStatus(
        namespace,
        name,
        resourceVersion,
        {
          ...(generation !== undefined ? { observedGeneration: generation } : {}),
          conditions: setCondition(resource.status?.conditions, condition, this.now()),
        },
        signal,
      );
    } catch (err) {
      // Changed meanwhile (its next event brings it back here) or deleted: nothing to report now.
      if (isConflict(err) || isNotFound(err)) return done();
      throw err;
    }
    this.options.logger.info(
      { namespace, name, kind: this.options.kind, flag: this.options.flag },
      "resource of a kind this operator does not serve: reported",
    );
    if (!this.told.has(told)) {
      this.told.add(told);
      this.options.events.emit(
        { apiVersion: this.options.apiVersion, kind: this.options.kind, namespace, name, uid: uid ?? "" },
        "Warning",
        Reason.FeatureDisabled,
        this.message,
      );
    }
    return done();
  }

  /** The informers start in the background; a list refused for want of RBAC is retried and logged, never awaited. */
  startCaches(): void {
    this.cachesStarted ??= this.resources.start();
  }

  startWorkers(): void {
    this.startCaches();
    this.working = true;
    void this.cachesStarted?.then(() => {
      if (this.working) this.controller.startWorkers();
    });
  }

  async stopWorkers(): Promise<void> {
    this.working = false;
    await this.controller.stopWorkers();
  }

  stopCaches(): void {
    this.resources.stop();
  }

  cachedObjects(): number {
    return this.resources.list().length;
  }

  ownerChanged(): void {}
  secretChanged(): void {}
  namespaceChanged(): void {}
}

/** The projection the cache keeps: never the spec. */
function reported(obj: ReportedResource): ReportedResource {
  const m = obj.metadata;
  const ready = obj.status?.conditions;
  return {
    metadata: {
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
      ...(m.uid !== undefined ? { uid: m.uid } : {}),
      ...(m.generation !== undefined ? { generation: m.generation } : {}),
      ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
      ...(m.deletionTimestamp !== undefined ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    ...(ready ? { status: { conditions: ready } } : {}),
  };
}
