// The rollout-restart feature through fakes of its ports: it follows owned Secrets and workloads into its own queue,
// and each run honours --reconcile-timeout-ms (it had a hard-coded 60 s deadline of its own).
import { afterEach, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { AWSAssumeRole, RolloutRestartStatus } from "../../api/schema.ts";
import { SecretAnnotation } from "../../domain/plan.ts";
import type { RawWorkload } from "../../domain/rollout-restart.ts";
import { FakeEvents, T0 } from "../../credentials/ports.fakes.ts";
import type { CachedSecret } from "../../credentials/ports.ts";
import { FakeInformers } from "../../runtime/informers.fakes.ts";
import { RolloutRestartFeature } from "./feature.ts";

const owner: AWSAssumeRole = {
  apiVersion: "pincette.net/v1",
  kind: "AWSAssumeRole",
  metadata: { namespace: "ns", name: "app", uid: "u1", generation: 1 },
  spec: { roleName: "r", secretName: "creds", secretType: "Map", rolloutRestart: { consumers: "Env" } },
} as AWSAssumeRole;

const secret: CachedSecret = {
  metadata: {
    namespace: "ns",
    name: "creds",
    ownerReferences: [
      { apiVersion: "pincette.net/v1", kind: "AWSAssumeRole", name: "app", uid: "u1", controller: true },
    ],
    annotations: {
      [SecretAnnotation.dataHash]: "h1",
      [SecretAnnotation.lastRefreshTime]: T0.toISOString(),
      [SecretAnnotation.expirationTime]: new Date(T0.getTime() + 3_600_000).toISOString(),
    },
  },
  dataHash: "h1",
};

const deployment: RawWorkload = {
  metadata: { namespace: "ns", name: "web", resourceVersion: "1", creationTimestamp: "2020-01-01T00:00:00Z" },
  spec: {
    template: {
      metadata: { annotations: {} },
      spec: { containers: [{ env: [{ valueFrom: { secretKeyRef: { name: "creds" } } }] }] },
    },
  },
};

function setup(reconcileTimeoutMs: number) {
  const informers = new FakeInformers();
  const signals: AbortSignal[] = [];
  let reads = 0;
  let waiting: (() => void) | undefined;
  const statuses: RolloutRestartStatus[] = [];
  const feature = new RolloutRestartFeature({
    informers: informers.port,
    watchedNamespaces: [],
    workloadPath: (kind) => `/${kind}`,
    resources: { get: () => owner, list: () => [owner] },
    clusterResources: undefined,
    secrets: { get: () => secret, list: () => [secret] },
    writer: {
      // A workload read that never answers: only the run's deadline ends it.
      get: (_kind, _ns, _name, signal) => {
        signals.push(signal!);
        reads++;
        waiting?.();
        return new Promise((_resolve, reject) =>
          signal!.addEventListener("abort", () => reject(signal!.reason)),
        );
      },
      patchTemplateAnnotations: () => Promise.resolve(),
    },
    writeStatus: (_target, status) => {
      statuses.push(status);
      return Promise.resolve();
    },
    events: new FakeEvents(),
    logger: pino({ level: "silent" }),
    refreshRatio: 2 / 3,
    maxSpacingMs: 10_000,
    minRolloutSeconds: 0,
    retryMs: 60_000,
    backoff: { baseMs: 1_000_000, maxMs: 1_000_000 },
    reconcileTimeoutMs,
    now: () => T0,
  });
  /** Resolves once the workload was read live `n` times (each run that restarts reads it first). */
  const read = async (n: number) => {
    while (reads < n) await new Promise<void>((resolve) => (waiting = () => resolve()));
  };
  return { informers, feature, signals, read, statuses };
}

afterEach(() => mock.timers.reset());

describe("rollout restart feature", () => {
  test("a run is aborted at --reconcile-timeout-ms, not after a deadline of its own", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    const h = setup(5_000);
    h.feature.startCaches();
    for (const kind of ["deployments", "statefulsets", "daemonsets"]) {
      assert.ok(h.informers.get(`${kind}@*`), `a ${kind} cache`);
    }
    h.informers.get("deployments@*").put(deployment);
    h.feature.startWorkers();
    await h.read(1);
    const signal = h.signals[0]!;
    mock.timers.tick(4_999);
    assert.equal(signal.aborted, false);
    mock.timers.tick(1);
    assert.equal(signal.aborted, true, "the run's signal aborts at the configured reconcile deadline");
    await h.feature.stopWorkers();
  });
});
