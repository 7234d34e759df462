// Prometheus metrics (prom-client): what an SRE needs to alert on — refresh results, AWS latency and errors,
// per-resource credential expiry and Ready condition, work-queue health under client-go's names, stalled watches,
// leadership, the build — plus Node's process metrics.
import { readFileSync } from "node:fs";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AwsObserver } from "../aws/aws.ts";
import type { AwsApi } from "../aws/rate-limit.ts";
import type { QueueGauges, QueueMetricsFor } from "../runtime/queue.ts";
import type { ReadinessObserver, ReconcileObserver } from "../credentials/ports.ts";
import { READY } from "../domain/conditions.ts";
import type { SecretType } from "../api/schema.ts";
import { KIND } from "../api/schema.ts";
import { CLUSTER_KIND } from "../api/cluster-schema.ts";
import { POD_IDENTITY_KIND } from "../api/pod-identity-schema.ts";
import type { ClusterObserver } from "../credentials/ports.ts";
import type { RestartObserver } from "../features/rollout-restart/ports.ts";

const PREFIX = "aws_assume_role_";

/** client-go / controller-runtime's work-queue latency buckets: 10 ns × 10^k up to 1,000 s. */
const WORKQUEUE_BUCKETS = Array.from({ length: 12 }, (_, k) => Number((1e-8 * 10 ** k).toPrecision(1)));

/** Reconcile duration buckets: up to 60 s, and the reconcile deadline itself when it is longer. */
export function reconcileBuckets(reconcileTimeoutMs: number): number[] {
  const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];
  const deadline = reconcileTimeoutMs / 1000;
  return deadline > 60 ? [...buckets, deadline] : buckets;
}

/** The operator's version as package.json says it ("unknown" when it cannot be read). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: unknown;
    };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

export interface MetricsOptions {
  /** --reconcile-timeout-ms: the reconcile histogram's buckets reach it. */
  reconcileTimeoutMs?: number;
  /** The commit the image was built from (AAR_REVISION, set by the Dockerfile); "unknown" outside the image. */
  revision?: string | undefined;
}

/** The labels of one resource's readiness series. */
interface ConditionLabels {
  kind: string;
  namespace: string;
  name: string;
  ready: string;
  reason: string;
}

export class Metrics {
  readonly registry = new Registry();
  readonly refreshes: Counter<"kind" | "result" | "secret_type">;
  readonly workloadRestarts: Counter<"kind" | "outcome">;
  readonly awsRequestDuration: Histogram<"api" | "outcome">;
  readonly expiration: Gauge<"kind" | "namespace" | "name">;
  readonly clusterNamespaces: Gauge<"name" | "state">;
  readonly queueAdds: Counter<"name">;
  readonly queueRetries: Counter<"name">;
  readonly queueDuration: Histogram<"name">;
  readonly workDuration: Histogram<"name">;
  readonly reconcileDuration: Histogram<"controller" | "result">;
  readonly leader: Gauge;
  private readonly resourceCondition: Gauge<keyof ConditionLabels>;
  readonly resources: Gauge<"kind">;
  readonly podIdentityAnswers: Histogram<"code">;

  /** The work queues by name, read at scrape time. */
  private readonly queues = new Map<string, QueueGauges>();
  /** The readiness series of each resource (kind, namespace, name → its labels), exported while leading. */
  private readonly conditions = new Map<string, ConditionLabels>();
  private leading = false;

  constructor(options: MetricsOptions = {}) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    new Gauge({
      name: `${PREFIX}build_info`,
      help: "Always 1: the operator's version (package.json), the commit its image was built from, and Node's version",
      labelNames: ["version", "revision", "nodejs_version"],
      registers,
    }).set(
      { version: packageVersion(), revision: options.revision || "unknown", nodejs_version: process.version },
      1,
    );
    this.resourceCondition = new Gauge({
      name: `${PREFIX}resource_condition`,
      help: "Always 1: one series per resource with its Ready condition's status (True, False, Unknown: none yet) and reason; reported by the leader",
      labelNames: ["kind", "namespace", "name", "ready", "reason"],
      registers,
    });
    const watches = () => this.watches();
    new Gauge({
      name: `${PREFIX}watch_stalled`,
      help: "1 while a watch has been silent for longer than --watch-stall-seconds (/healthz fails then), else 0; by watch as /healthz names it",
      labelNames: ["watch"],
      registers,
      collect() {
        this.reset();
        for (const w of watches()) this.set({ watch: w.name }, w.stalled ? 1 : 0);
      },
    });
    this.workloadRestarts = new Counter({
      name: `${PREFIX}workload_restarts_total`,
      help: "rolloutRestart: workload restarts by workload kind and outcome (Restarted, Failed, Forbidden, NotFound)",
      labelNames: ["kind", "outcome"],
      registers,
    });
    this.refreshes = new Counter({
      name: `${PREFIX}refreshes_total`,
      help: "Refreshes (new credentials written to a Secret, its creation included; for a ClusterAWSAssumeRole, to all its copies at once) by kind, result and secretType",
      labelNames: ["kind", "result", "secret_type"],
      registers,
    });
    this.awsRequestDuration = new Histogram({
      name: `${PREFIX}aws_request_duration_seconds`,
      help: "Latency of AWS API calls by API and outcome (success or the failure's status reason)",
      labelNames: ["api", "outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.expiration = new Gauge({
      name: `${PREFIX}credentials_expiration_timestamp_seconds`,
      help: "Unix time at which the credentials in each resource's Secret expire (namespace empty for ClusterAWSAssumeRole)",
      labelNames: ["kind", "namespace", "name"],
      registers,
    });
    this.clusterNamespaces = new Gauge({
      name: `${PREFIX}cluster_namespaces`,
      help: "Namespaces of each ClusterAWSAssumeRole by state: selected, ready, conflicts, denied",
      labelNames: ["name", "state"],
      registers,
    });
    // The work queues under client-go's names (unprefixed), one `name` per queue.
    const queues = this.queues;
    new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue: keys ready to be reconciled and waiting for a free worker",
      labelNames: ["name"],
      registers,
      collect() {
        for (const [name, q] of queues) this.set({ name }, q.depth());
      },
    });
    this.queueAdds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue (a key already waiting is not counted twice)",
      labelNames: ["name"],
      registers,
    });
    this.queueDuration = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds a key stays in workqueue before being requested",
      labelNames: ["name"],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing a key from workqueue takes",
      labelNames: ["name"],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.queueRetries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue: reconciles that failed and were scheduled to run again",
      labelNames: ["name"],
      registers,
    });
    new Gauge({
      name: "workqueue_unfinished_work_seconds",
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration; large values indicate stuck workers",
      labelNames: ["name"],
      registers,
      collect() {
        for (const [name, q] of queues) this.set({ name }, q.unfinishedWork().totalMs / 1000);
      },
    });
    new Gauge({
      name: "workqueue_longest_running_processor_seconds",
      help: "How many seconds has the longest running processor for workqueue been running",
      labelNames: ["name"],
      registers,
      collect() {
        for (const [name, q] of queues) this.set({ name }, q.unfinishedWork().longestMs / 1000);
      },
    });
    this.reconcileDuration = new Histogram({
      name: `${PREFIX}reconcile_duration_seconds`,
      help: "Duration of one reconcile by controller (its queue's name) and result (success, error); the last bucket is the reconcile deadline",
      labelNames: ["controller", "result"],
      buckets: reconcileBuckets(options.reconcileTimeoutMs ?? 60_000),
      registers,
    });
    this.leader = new Gauge({
      name: `${PREFIX}leader`,
      help: "1 while this replica is the leader (or leader election is off), else 0",
      registers,
    });
    const counts = () => ({ namespaced: this.resourceCount(), cluster: this.clusterResourceCount?.() });
    const serviceAccounts = () => this.cachedServiceAccounts();
    new Gauge({
      name: `${PREFIX}cached_service_accounts`,
      help: "ServiceAccounts in the caches of the imagePullSecrets wiring: only listed names and those carrying our record",
      registers,
      collect() {
        this.set(serviceAccounts());
      },
    });
    this.podIdentityAnswers = new Histogram({
      name: `${PREFIX}pod_identity_answers_seconds`,
      help: "--pod-identity: the credential authority's answers to the node agents by code (Ok, or the refusal's: NoAssociation, InvalidToken, WrongNode, ...) and how long each took",
      labelNames: ["code"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.resources = new Gauge({
      name: `${PREFIX}resources`,
      help: "AWSAssumeRole (and, with --cluster-assume-roles, ClusterAWSAssumeRole) resources in the cache, by kind",
      labelNames: ["kind"],
      registers,
      // Read at scrape time, so nothing has to poll the cache.
      collect() {
        const { namespaced, cluster } = counts();
        this.set({ kind: KIND }, namespaced);
        if (cluster !== undefined) this.set({ kind: CLUSTER_KIND }, cluster);
      },
    });
  }

  /** Where the watch-stalled gauge reads the watches at scrape time (the watchdog /healthz asks). */
  watches: () => readonly { name: string; stalled: boolean }[] = () => [];

  /** Whether this replica leads (or leader election is off): the leader gauge, and the readiness series exported. */
  setLeader(leading: boolean): void {
    if (leading && !this.leading)
      for (const labels of this.conditions.values()) this.resourceCondition.set(labels, 1);
    if (!leading) this.resourceCondition.reset();
    this.leading = leading;
    this.leader.set(leading ? 1 : 0);
  }

  /** The readiness series of each resource of a kind, from its controller's primary events (one seam for all kinds). */
  readonly readiness: ReadinessObserver = (kind) => (resource, change) => {
    const namespace = resource.metadata?.namespace ?? "";
    const name = resource.metadata?.name ?? "";
    const id = `${kind}\u0000${namespace}\u0000${name}`;
    const old = this.conditions.get(id);
    const ready = resource.status?.conditions?.find((c) => c.type === READY);
    const labels = change.deleted
      ? undefined
      : { kind, namespace, name, ready: ready?.status ?? "Unknown", reason: ready?.reason ?? "" };
    if (old && labels && old.ready === labels.ready && old.reason === labels.reason) return;
    // One series per resource: the old one goes before the new one is set.
    if (old && this.leading) this.resourceCondition.remove(old);
    if (!labels) {
      this.conditions.delete(id);
      return;
    }
    this.conditions.set(id, labels);
    if (this.leading) this.resourceCondition.set(labels, 1);
  };

  /** Where the cached ServiceAccounts gauge reads its value at scrape time (--service-accounts). */
  cachedServiceAccounts: () => number = () => 0;

  /** Where the resources gauge reads its value at scrape time. */
  resourceCount: () => number = () => 0;
  /** Where the ClusterAWSAssumeRole count comes from, when that kind is reconciled. */
  clusterResourceCount: (() => number) | undefined;

  aws(): AwsObserver {
    return {
      onCall: (api: AwsApi, outcome: string, seconds: number) =>
        this.awsRequestDuration.observe({ api, outcome }, seconds),
    };
  }

  reconcile(kind: string = KIND): ReconcileObserver {
    return {
      onRefresh: (secretType: SecretType, result: "success" | "failure") =>
        this.refreshes.inc({ kind, result, secret_type: secretType }),
      onExpirationTime: (namespace: string, name: string, expirationTime: Date | undefined) => {
        if (expirationTime) this.expiration.set({ kind, namespace, name }, expirationTime.getTime() / 1000);
        else this.expiration.remove({ kind, namespace, name });
      },
    };
  }

  cluster(): ClusterObserver {
    return {
      ...this.reconcile(CLUSTER_KIND),
      onNamespaces: (name, counts) => {
        for (const state of ["selected", "ready", "conflicts", "denied"] as const) {
          if (counts) this.clusterNamespaces.set({ name, state }, counts[state]);
          else this.clusterNamespaces.remove({ name, state });
        }
      },
    };
  }

  /** --pod-identity: the authority's answers, and its AssumeRoles as refreshes of kind AWSPodIdentityAssociation. */
  podIdentity(): {
    onAnswer(code: string, seconds: number): void;
    onRefresh(result: "success" | "failure"): void;
  } {
    return {
      onAnswer: (code, seconds) => this.podIdentityAnswers.observe({ code }, seconds),
      onRefresh: (result) => this.refreshes.inc({ kind: POD_IDENTITY_KIND, result, secret_type: "None" }),
    };
  }

  restarts(): RestartObserver {
    return { onRestart: (kind, outcome) => this.workloadRestarts.inc({ kind, outcome }) };
  }

  /** The hooks of one work queue; its gauges are read from the queue at scrape time. */
  readonly queue: QueueMetricsFor = (name) => ({
    attach: (gauges) => {
      this.queues.set(name, gauges);
      // The counters exist from the start, so rate() and increase() see the first add.
      this.queueAdds.inc({ name }, 0);
      this.queueRetries.inc({ name }, 0);
    },
    onAdd: () => this.queueAdds.inc({ name }),
    onStart: (_key, waitedMs) => this.queueDuration.observe({ name }, waitedMs / 1000),
    onRetry: () => this.queueRetries.inc({ name }),
    onDone: (_key, durationMs, ok) => {
      this.workDuration.observe({ name }, durationMs / 1000);
      this.reconcileDuration.observe(
        { controller: name, result: ok ? "success" : "error" },
        durationMs / 1000,
      );
    },
  });
}
