// rolloutRestart on the node: the operator runs from the chart with `rolloutRestart.enabled`, and a real Deployment
// reads a `Map` Secret through environment variables — the consumer that, without rolloutRestart, keeps its first
// credentials and goes stale (consumers.node.ts shows that). Here the Deployment controller, scheduler, kubelet and
// containerd roll it after each refresh, and every STS call the consumer makes is checked against the AWS proxy's
// records: signed with credentials STS issued, before they expired. Then the operator is failed over and restarted
// as a whole, and no workload is restarted for it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type * as k8s from "@kubernetes/client-node";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import { RESTARTED_FOR_ANNOTATION } from "../../src/domain/rollout-restart.ts";
import { createResource, readSecret, waitForReady } from "../support/operator.ts";
import {
  consumerImage,
  hasNode,
  installOperator,
  isReady,
  leaseHolder,
  NO_NODE,
  nodeWorld,
  OPERATOR_NAMESPACE,
  operatorPods,
  podReachableProxy,
  restrictedContainer,
  suiteContext,
  issuedKeys,
} from "../support/node.ts";
import type { NodeWorld } from "../support/node.ts";
import { eventually, freshNamespace, kubectl } from "../support/world.ts";

const LIFETIME_SECONDS = 45;
const REFRESHES = 3;
const ROLE = "node-restart-role";

/** A Deployment of the JS consumer reading `secret` (a Map Secret) through environment variables. */
function envDeployment(
  name: string,
  secret: string,
  image: string,
  awsEndpoint: string,
  region: string,
): k8s.V1Deployment {
  const keyRef = (key: string) => ({ secretKeyRef: { name: secret, key } });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      // The new Pod starts before the old one stops; the old one stops at once (the consumer exits on SIGTERM).
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 5,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "consumer",
              image,
              imagePullPolicy: "Never",
              securityContext: restrictedContainer,
              env: [
                { name: "AWS_ENDPOINT_URL", value: awsEndpoint },
                { name: "AWS_REGION", value: region },
                { name: "INTERVAL_MS", value: "500" },
                { name: "AWS_ACCESS_KEY_ID", valueFrom: keyRef("awsAccessKeyId") },
                { name: "AWS_SECRET_ACCESS_KEY", valueFrom: keyRef("awsSecretAccessKey") },
                { name: "AWS_SESSION_TOKEN", valueFrom: keyRef("awsSessionToken") },
              ],
            },
          ],
        },
      },
    },
  };
}

async function applyDeployment(namespace: string, deployment: k8s.V1Deployment): Promise<void> {
  await kubectl(["apply", "--namespace", namespace, "-f", "-"], JSON.stringify(deployment));
}

async function readDeployment(namespace: string, name: string): Promise<k8s.V1Deployment> {
  return JSON.parse(
    await kubectl(["get", "deployment", name, "--namespace", namespace, "-o", "json"]),
  ) as k8s.V1Deployment;
}

const secretKey = (secret: k8s.V1Secret | undefined): string =>
  Buffer.from(secret?.data?.awsAccessKeyId ?? "", "base64").toString("utf8");

describe("rolloutRestart on the node", { skip: hasNode() ? false : NO_NODE }, () => {
  const suite = suiteContext("rolloutRestart on the node", after);
  let w: NodeWorld;
  let proxy: AwsProxy;
  let ns: string;
  let image: string;

  before(async () => {
    const found = await nodeWorld();
    if (!found) throw new Error(NO_NODE);
    w = found;
    proxy = await podReachableProxy(suite, w);
    proxy.setLifetime({ stsSeconds: LIFETIME_SECONDS });
    [image] = await Promise.all([
      consumerImage("js"),
      installOperator(suite, w, proxy.url, { rolloutRestart: { enabled: true } }),
    ]);
    ns = await freshNamespace(suite, { "pod-security.kubernetes.io/enforce": "restricted" });
  });

  test(`a Deployment reading a Map Secret through env vars signs only with unexpired credentials across ${REFRESHES} refreshes`, async (t) => {
    await createResource(ns, "env-app", {
      roleName: ROLE,
      secretName: "env-app",
      secretType: "Map",
      rolloutRestart: { consumers: "Env" },
    });
    await waitForReady(ns, "env-app", "True", undefined, 60_000);
    await applyDeployment(ns, envDeployment("env-app", "env-app", image, proxy.url, w.env.AWS_REGION!));

    // Every credential set the Secret held, in order, until the consumer has signed with the fourth.
    const sets: string[] = [];
    await eventually(
      `the consumer signing with ${REFRESHES + 1} credential sets in turn`,
      async () => {
        const key = secretKey(await readSecret(ns, "env-app"));
        if (key && sets.at(-1) !== key) sets.push(key);
        const used = new Set(proxy.records({ action: "GetCallerIdentity" }).map((r) => r.accessKeyId));
        return sets.length >= REFRESHES + 1 && used.has(sets[REFRESHES]) ? true : undefined;
      },
      (REFRESHES + 2) * LIFETIME_SECONDS * 1000,
      500,
    );
    // Let the last rollout finish so the calls of the Pod it replaced are in the records too.
    await sleep(5_000);

    const issued = issuedKeys(proxy);
    const mine = new Set(sets);
    const calls = proxy
      .records({ action: "GetCallerIdentity" })
      .filter((r) => r.accessKeyId && mine.has(r.accessKeyId));
    for (const key of sets) {
      assert.ok(issued.has(key), `the Secret's key ${key.slice(0, 8)}… was issued by STS`);
      assert.ok(
        calls.some((r) => r.accessKeyId === key),
        `the consumer signed with the credential set ${key.slice(0, 8)}… (it was restarted onto it)`,
      );
    }
    const late = calls.filter((r) => Date.parse(r.time) >= issued.get(r.accessKeyId!)!);
    assert.deepEqual(
      late.map((r) => `${r.time} ${r.accessKeyId!.slice(0, 8)}…`),
      [],
      "no call used expired credentials",
    );

    // Each restart was for a credential set: the Pod template says which Secret data it was restarted for.
    const deployment = await readDeployment(ns, "env-app");
    const restartedFor = deployment.spec?.template?.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION] ?? "";
    assert.match(
      restartedFor,
      /^env-app=/,
      "the Pod template records the credential set it was restarted for",
    );
    for (const key of sets) {
      const used = calls.filter((r) => r.accessKeyId === key);
      t.diagnostic(`${key.slice(0, 8)}…: ${used.length} calls, ${used[0]?.time} → ${used.at(-1)?.time}`);
    }
  });

  test("a leader failover and a restart of the whole operator restart no workload", async () => {
    // Long credentials: nothing is refreshed while the operator changes hands, so any restart would be its fault.
    proxy.setLifetime({ stsSeconds: 900 });
    await createResource(ns, "steady-app", {
      roleName: ROLE,
      secretName: "steady-app",
      secretType: "Map",
      rolloutRestart: { consumers: "Env" },
    });
    await waitForReady(ns, "steady-app", "True", undefined, 60_000);
    await applyDeployment(ns, envDeployment("steady-app", "steady-app", image, proxy.url, w.env.AWS_REGION!));
    const key = secretKey(await readSecret(ns, "steady-app"));
    await eventually("the Deployment available", async () => {
      const d = await readDeployment(ns, "steady-app");
      return (d.status?.availableReplicas ?? 0) >= 1 ? d : undefined;
    });
    const before = await readDeployment(ns, "steady-app");

    // Failover: the leader Pod is deleted; the standby takes the Lease.
    const leader = await leaseHolder(w);
    await kubectl(["delete", "pod", leader, "--namespace", OPERATOR_NAMESPACE, "--wait=false"]);
    await eventually(
      "another replica holding the Lease",
      async () => {
        const holder = await leaseHolder(w);
        return holder && holder !== leader ? holder : undefined;
      },
      90_000,
    );
    // A restart of the whole operator: every replica replaced.
    await kubectl(["rollout", "restart", "deployment", "--namespace", OPERATOR_NAMESPACE]);
    await kubectl(["rollout", "status", "deployment", "--namespace", OPERATOR_NAMESPACE, "--timeout=180s"]);
    const pods = await operatorPods(w);
    await eventually(
      "a leader among the new replicas",
      async () => {
        const holder = await leaseHolder(w);
        return pods.some((p) => p.metadata?.name === holder && isReady(p)) ? holder : undefined;
      },
      90_000,
    );
    // The new leader has resynced every resource within its first reconcile pass; give it that pass.
    await sleep(15_000);

    const afterwards = await readDeployment(ns, "steady-app");
    assert.equal(
      secretKey(await readSecret(ns, "steady-app")),
      key,
      "the credentials did not change meanwhile",
    );
    assert.equal(
      afterwards.metadata?.generation,
      before.metadata?.generation,
      "the Deployment was not restarted",
    );
    assert.deepEqual(
      afterwards.spec?.template?.metadata?.annotations,
      before.spec?.template?.metadata?.annotations,
    );
  });
});
