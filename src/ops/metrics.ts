// Prometheus metrics (prom-client): what an SRE needs to alert on — refresh results, AWS latency and errors,
// per-resource credential expiry, queue health, leadership — plus Node's process metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AwsObserver } from "../aws/aws.ts";
import type { AwsApi } from "../aws/rate-limit.ts";
import type { QueueMetrics } from "../engine/queue.ts";
import type { ReconcileObserver } from "../engine/ports.ts";
import type { SecretType } from "../api/schema.ts";

const PREFIX = "aws_assume_role_";

export class Metrics {
  readonly registry = new Registry();
  readonly refreshes: Counter<"result" | "secret_type">;
  readonly awsRequestDuration: Histogram<"api" | "outcome">;
  readonly expiration: Gauge<"namespace" | "name">;
  readonly queueDepth: Gauge;
  readonly queueAdds: Counter;
  readonly queueRetries: Counter;
  readonly reconcileDuration: Histogram<"result">;
  readonly leader: Gauge;
  readonly resources: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.refreshes = new Counter({
      name: `${PREFIX}refreshes_total`,
      help: "Credential issues (create or refresh of a Secret) by result and secretType",
      labelNames: ["result", "secret_type"],
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
      help: "Unix time at which the credentials in each resource's Secret expire",
      labelNames: ["namespace", "name"],
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
    const resources = () => this.resourceCount();
    this.resources = new Gauge({
      name: `${PREFIX}resources`,
      help: "AWSAssumeRole resources in the cache",
      registers,
      // Read at scrape time, so nothing has to poll the cache.
      collect() {
        this.set(resources());
      },
    });
  }

  /** Where the resources gauge reads its value at scrape time. */
  resourceCount: () => number = () => 0;

  aws(): AwsObserver {
    return {
      onCall: (api: AwsApi, outcome: string, seconds: number) =>
        this.awsRequestDuration.observe({ api, outcome }, seconds),
    };
  }

  reconcile(): ReconcileObserver {
    return {
      onRefresh: (secretType: SecretType, result: "success" | "failure") =>
        this.refreshes.inc({ result, secret_type: secretType }),
      onExpirationTime: (namespace: string, name: string, expirationTime: Date | undefined) => {
        if (expirationTime) this.expiration.set({ namespace, name }, expirationTime.getTime() / 1000);
        else this.expiration.remove({ namespace, name });
      },
    };
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
