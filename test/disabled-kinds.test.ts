// A kind whose feature is off is never silently ignored: an operator started without --cluster-assume-roles and
// --pod-identity tells a ClusterAWSAssumeRole and an AWSPodIdentityAssociation so (Ready=False, FeatureDisabled,
// naming the flag and the chart value, one Warning event each), with no AWS call and no Secret; started with the
// flags, the real controllers report instead; off again, only the association's report is replaced. Holds the cluster-operator lock: its operators see every
// ClusterAWSAssumeRole in the world.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { clusterOperatorLock } from "./support/cluster-lock.ts";
import { ensureCrd, events, freePorts, readSecret, startOperator } from "./support/operator.ts";
import { eventually, freshNamespace, kubectl, privateProxy } from "./support/world.ts";

interface Ready {
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

async function readyOf(kind: string, name: string, namespace?: string): Promise<Ready | undefined> {
  const object = JSON.parse(
    await kubectl(["get", kind, name, ...(namespace ? ["-n", namespace] : []), "-o", "json"]),
  ) as { status?: { conditions?: (Ready & { type: string })[] } };
  return object.status?.conditions?.find((c) => c.type === "Ready");
}

function waitForReason(kind: string, name: string, reason: string, namespace?: string): Promise<Ready> {
  return eventually(
    `${kind} ${name}: Ready with reason ${reason}`,
    async () => {
      const ready = await readyOf(kind, name, namespace);
      return ready?.reason === reason ? ready : undefined;
    },
    30_000,
  );
}

/** The operator's per-resource Ready series of `kind` `name`, as `ready/reason`, and the work queues it reports. */
async function scraped(
  metricsUrl: string | undefined,
  kind: string,
  name: string,
): Promise<{ conditions: string[]; queues: Set<string> }> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const conditions: string[] = [];
  const queues = new Set<string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("aws_assume_role_resource_condition{") && line.includes(`kind="${kind}"`)) {
      if (!line.includes(`,name="${name}",`)) continue;
      conditions.push(`${/ready="(\w*)"/.exec(line)?.[1]}/${/reason="(\w*)"/.exec(line)?.[1]}`);
    }
    const queue = /^workqueue_depth\{name="([^"]+)"\}/.exec(line)?.[1];
    if (queue) queues.add(queue);
  }
  return { conditions, queues };
}

/**
 * Waits until the operator's Ready series of the cluster resource and of the association "reader" are exactly
 * `ready` (one series each, as `ready/reason`), then checks the work queues it reports.
 */
async function metricsSay(
  metricsUrl: string | undefined,
  clusterName: string,
  ready: [string, string],
  queues: string[],
): Promise<void> {
  await eventually(`the Ready series ${ready.join(", ")}`, async () => {
    const c = await scraped(metricsUrl, "ClusterAWSAssumeRole", clusterName);
    const a = await scraped(metricsUrl, "AWSPodIdentityAssociation", "reader");
    return c.conditions.join() === ready[0] && a.conditions.join() === ready[1] ? true : undefined;
  });
  assert.deepEqual([...(await scraped(metricsUrl, "", "")).queues].sort(), queues);
}

test("without their flags a ClusterAWSAssumeRole and an AWSPodIdentityAssociation are told the feature is off (no AWS call, no Secret); with them, the real controllers report", async (t) => {
  await clusterOperatorLock(t);
  await ensureCrd();
  const suffix = randomBytes(3).toString("hex");
  const label = { "disabled-kinds": suffix };
  const ns = await freshNamespace(t, label);
  const agents = await freshNamespace(t);
  const clusterName = `disabled-kinds-${suffix}`;
  await kubectl(
    ["create", "-f", "-"],
    JSON.stringify({
      apiVersion: "pincette.net/v1",
      kind: "ClusterAWSAssumeRole",
      metadata: { name: clusterName },
      spec: {
        roleName: "reader",
        secretName: "disabled-kinds",
        secretType: "Map",
        namespaceSelector: { matchLabels: label },
      },
    }),
  );
  t.after(() =>
    kubectl(["delete", "caar", clusterName, "--ignore-not-found", "--wait=false"]).catch(() => undefined),
  );
  await kubectl(
    ["create", "-f", "-"],
    JSON.stringify({
      apiVersion: "pincette.net/v1",
      kind: "AWSPodIdentityAssociation",
      metadata: { name: "reader", namespace: ns },
      spec: { serviceAccount: "app", roleName: "reader" },
    }),
  );
  const proxy = await privateProxy(t);

  // Off: each is told once, with the flag and the chart value; nothing reaches AWS and no Secret is written.
  const off = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, endpoints: true });
  const cluster = await waitForReason("caar", clusterName, "FeatureDisabled");
  assert.equal(cluster.status, "False");
  assert.equal(cluster.observedGeneration, 1);
  assert.match(cluster.message, /runs without --cluster-assume-roles \(chart: clusterAssumeRoles\.enabled\)/);
  const association = await waitForReason("awspia", "reader", "FeatureDisabled", ns);
  assert.equal(association.status, "False");
  assert.match(association.message, /runs without --pod-identity \(chart: podIdentity\.enabled\)/);
  const warned = await eventually("a FeatureDisabled Warning on the association", async () =>
    (await events(ns)).find((e) => e.reason === "FeatureDisabled" && e.name === "reader"),
  );
  assert.equal(warned.type, "Warning");
  await eventually("a FeatureDisabled Warning on the cluster resource", async () =>
    (await events("default")).find((e) => e.reason === "FeatureDisabled" && e.name === clusterName),
  );
  assert.equal(await readSecret(ns, "disabled-kinds"), undefined, "no Secret without the flag");
  assert.deepEqual(
    proxy.records().filter((r) => r.action === "AssumeRole"),
    [],
    "no AssumeRole without the flags",
  );
  // The per-resource Ready metric names both, with the reason, from the stand-ins' queues.
  await metricsSay(
    off.metricsUrl,
    clusterName,
    ["False/FeatureDisabled", "False/FeatureDisabled"],
    ["awsassumerole", "awspodidentityassociation-disabled", "clusterawsassumerole-disabled"],
  );
  assert.equal(await off.stop(), 0);

  // On: the real controllers take over the Ready condition.
  const [port] = await freePorts(1);
  const on = await startOperator(t, {
    namespaces: [ns, agents],
    awsEndpoint: proxy.url,
    env: { POD_NAMESPACE: agents },
    waitFor: "pod identity server listening",
    endpoints: true,
    args: [
      "--cluster-assume-roles",
      "--pod-identity",
      "--pod-identity-bind-address",
      `127.0.0.1:${port}`,
      "--pod-identity-agent",
      `${agents}/agent`,
      "--pod-identity-webhook",
      `disabled-kinds-${suffix}`,
    ],
  });
  assert.equal((await waitForReason("caar", clusterName, "CredentialsReady")).status, "True");
  assert.ok(await eventually("the cluster copy", () => readSecret(ns, "disabled-kinds")));
  assert.equal((await waitForReason("awspia", "reader", "Associated", ns)).status, "True");
  await metricsSay(
    on.metricsUrl,
    clusterName,
    ["True/CredentialsReady", "True/Associated"],
    ["awsassumerole", "awspodidentityassociation", "clusterawsassumerole"],
  );
  assert.equal(await on.stop(), 0);

  // Off again: the association's Associated is no longer true (one install serves Pod Identity) and is replaced; the
  // cluster resource's report stands (another install may serve it; its copies stay until they expire).
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await waitForReason("awspia", "reader", "FeatureDisabled", ns);
  assert.equal((await readyOf("caar", clusterName))?.reason, "CredentialsReady");
});
