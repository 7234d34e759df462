// Prometheus metrics (prom-client): what an SRE needs to alert on — refresh results, AWS latency and errors,
// per-resource credential expiry, queue health, leadership — plus Node's process metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AwsObserver } from "../aws/aws.ts";
import type { AwsApi } from "../aws/rate-limit.ts";
import type { QueueMetrics } from "../runtime/queue.ts";
import type { ReconcileObserver } from "../credentials/ports.ts";
import type { SecretType } from "../api/schema.ts";
import { KIND } from "../api/schema.ts";
import { CLUSTER_KIND } from "../api/cluster-schema.ts";
import { POD_IDENTITY_KIND } from "../api/pod-identity-schema.ts";
import type { ClusterObserver } from "../credentials/ports.ts";
import type { RestartObserver } from "../features/rollout-restart/ports.ts";

const PREFIX = "aws_assume_role_";

export class Metrics {
  readonly registry = new Registry();
  readonly refreshes: Counter<"kind" | "result" | "secret_type">;
  readonly workloadRestarts: Counter<"kind" | "outcome">;
  readonly awsRequestDuration: Histogram<"api" | "outcome">;
  readonly expiration: Gauge<"kind" | "namespace" | "name">;
  readonly clusterNamespaces: Gauge<"name" | "state">;
  readonly queueDepth: Gauge;
  readonly queueAdds: Counter;
  readonly queueRetries: Counter;
  readonly reconcileDuration: Histogram<"result">;
  readonly leader: Gauge;
  readonly resources: Gauge<"kind">;
  readonly podIdentityAnswers: Histogram<"code">;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
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
    this.queueDepth = new Gauge({
      name: `${PREFIX}workqueue_depth`,
      help: "Resources waiting to be reconciled now",
      registers,
    });
    this.queueAdds = new Counter({
      name: `${PREFIX}workqueue_adds_total`,
      help: "Keys added to the work queue",
      registers,
    });
    this.queueRetries = new Counter({
      name: `${PREFIX}workqueue_retries_total`,
      help: "Reconciles retried after a failure",
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: `${PREFIX}reconcile_duration_seconds`,
      help: "Duration of one reconcile by result",
      labelNames: ["result"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
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

  queue(depth: () => number): QueueMetrics {
    return {
      onAdd: () => {
        this.queueAdds.inc();
        this.queueDepth.set(depth());
      },
      onRetry: () => this.queueRetries.inc(),
      onDone: (_key: string, durationMs: number, ok: boolean) => {
        this.reconcileDuration.observe({ result: ok ? "success" : "error" }, durationMs / 1000);
        this.queueDepth.set(depth());
      },
    };
  }
}
