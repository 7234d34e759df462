// ServiceAccount wiring without --service-accounts: no watch and no cache. A resource that lists serviceAccounts is
// told in its status and a Warning event that they are ignored, and our finalizer left from an earlier run never
// holds up a deletion. Its small queue is built only when the first such resource shows up.
import type { Logger } from "pino";
import type { QueueMetricsFor } from "../../runtime/queue.ts";
import { Reason } from "../../domain/conditions.ts";
import { SERVICE_ACCOUNTS_FINALIZER } from "../../domain/pull-secrets.ts";
import { apiErrorMessage, isForbidden } from "../../runtime/api-errors.ts";
import type { EventSink } from "../../credentials/ports.ts";
import type { PrimaryChange } from "../../runtime/controller.ts";
import { keyOf, parseKey } from "../../runtime/object-key.ts";
import { ReconcileLoop } from "../../runtime/reconciler.ts";
import type { Reconciler } from "../../runtime/reconciler.ts";
import { done } from "../../runtime/result.ts";
import type { ReconcileResult } from "../../runtime/result.ts";
import { kindOf, ownerByKey } from "../feature.ts";
import type { Feature, Owner, OwnerCaches } from "../feature.ts";
import { OwnerWrites, concerns } from "./owner-writes.ts";
import type { ServiceAccountWriter } from "./owner-writes.ts";

export interface ServiceAccountsDisabledOptions extends OwnerCaches {
  writer: ServiceAccountWriter;
  events: EventSink;
  logger: Logger;
  backoff: { baseMs: number; maxMs: number };
  reconcileTimeoutMs: number;
  /** The work queue's metrics (workqueue_*{name}), given the queue's name. */
  queueMetrics?: QueueMetricsFor;
}

const DISABLED_MESSAGE =
  "The operator runs without --service-accounts (Helm: serviceAccounts.enabled), so spec.serviceAccounts " +
  "is ignored: no ServiceAccount gets the Secret";

export class ServiceAccountsDisabled implements Feature, Reconciler {
  readonly name = "service-accounts-disabled";
  private readonly options: ServiceAccountsDisabledOptions;
  private readonly writes: OwnerWrites;
  private loop: ReconcileLoop | undefined;
  private working = false;
  /** `${uid}/${generation}` of resources already told the feature is off (pruned on delete). */
  private readonly toldDisabled = new Set<string>();

  constructor(options: ServiceAccountsDisabledOptions) {
    this.options = options;
    this.writes = new OwnerWrites(options.writer, options.events);
  }

  private add(key: string): void {
    if (!this.working) return;
    this.loop ??= this.newLoop();
    this.loop.add(key);
  }

  private newLoop(): ReconcileLoop {
    const loop = new ReconcileLoop(
      {
        name: this.name,
        logger: this.options.logger,
        concurrency: 1,
        backoff: this.options.backoff,
        reconcileTimeoutMs: this.options.reconcileTimeoutMs,
        ...(this.options.queueMetrics ? { metrics: this.options.queueMetrics } : {}),
      },
      this,
    );
    loop.start();
    return loop;
  }

  startCaches(): void {}
  stopCaches(): void {}

  startWorkers(): void {
    this.working = true;
    const owners = [...this.options.resources.list(), ...(this.options.clusterResources?.list() ?? [])];
    for (const r of owners) if (concerns(r)) this.add(keyOf(r));
  }

  async stopWorkers(): Promise<void> {
    this.working = false;
    await this.loop?.stop();
    this.loop = undefined;
  }

  cachedObjects(): number {
    return 0;
  }

  ownerChanged(owner: Owner, change: PrimaryChange): void {
    if (change.deleted) {
      const uid = `${owner.metadata.uid}/`;
      for (const told of this.toldDisabled) if (told.startsWith(uid)) this.toldDisabled.delete(told);
      return;
    }
    if (concerns(owner)) this.add(keyOf(owner));
  }

  secretChanged(): void {}
  namespaceChanged(): void {}

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { namespace, name } = parseKey(key);
    const resource = ownerByKey(this.options, namespace, name);
    if (!resource) return done();
    if (resource.metadata.deletionTimestamp) {
      if (resource.metadata.finalizers?.includes(SERVICE_ACCOUNTS_FINALIZER))
        await this.release(resource, signal);
      return done();
    }
    if (!resource.spec.serviceAccounts?.length) {
      await this.writes.writeStatus(resource, undefined, signal);
      return done();
    }
    await this.writes.writeStatus(resource, { wired: 0, missing: 0, message: DISABLED_MESSAGE }, signal);
    const told = `${resource.metadata.uid}/${resource.metadata.generation}`;
    if (!this.toldDisabled.has(told)) {
      this.toldDisabled.add(told);
      this.writes.event(resource, "Warning", Reason.ServiceAccountsDisabled, DISABLED_MESSAGE);
    }
    return done();
  }

  /** Drops our finalizer from a resource being deleted; the entries it added stay (nothing here may remove them). */
  private async release(resource: Owner, signal: AbortSignal): Promise<void> {
    const kind = kindOf(resource) === "AWSAssumeRole" ? "aar" : "caar";
    const where = resource.metadata.namespace ? ` -n ${resource.metadata.namespace}` : "";
    try {
      await this.writes.dropFinalizer(resource, signal);
    } catch (err) {
      // The chart grants patch on the resources only with serviceAccounts.enabled: say how to let it go.
      if (!isForbidden(err)) throw err;
      this.writes.event(
        resource,
        "Warning",
        Reason.ServiceAccountsNotCleaned,
        `The operator runs without --service-accounts and may not remove its finalizer ` +
          `(${apiErrorMessage(err)}): remove it with kubectl patch ${kind} ${resource.metadata.name}${where} ` +
          `--type=merge -p '{"metadata":{"finalizers":null}}'; entries it added for Secret ` +
          `${resource.spec.secretName} remain in imagePullSecrets`,
      );
      throw err;
    }
    this.writes.event(
      resource,
      "Warning",
      Reason.ServiceAccountsNotCleaned,
      `The operator runs without --service-accounts: imagePullSecrets entries for Secret ` +
        `${resource.spec.secretName} that it added earlier remain; the resource is deleted anyway`,
    );
  }
}
