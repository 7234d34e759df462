// The chart's RBAC is enough: the operator, run out of cluster with the token of the chart's own ServiceAccount
// (installed by the real helm into the test world), elects itself leader and reconciles a resource; an action
// outside the chart's rules is refused. With serviceAccounts.enabled the same holds for the ServiceAccount wiring, and
// without it an operator given --service-accounts anyway (403 on every ServiceAccount request) never holds a deletion.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { installChart } from "./support/chart.ts";
import { eventually, freshNamespace, kubectl, privateProxy, world } from "./support/world.ts";
import { createResource, getResource, secretData, startOperator, waitForReady } from "./support/operator.ts";

test("the operator running as the chart's ServiceAccount reconciles a resource, and cannot read ConfigMaps", async (t) => {
  const chart = await installChart(t, { namespacePermissions: "true" });
  const ns = await freshNamespace(t, {});
  const proxy = await privateProxy(t);
  const operator = await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    env: { KUBECONFIG: chart.kubeConfigFile },
    args: [
      "--leader-elect",
      "--leader-election-namespace",
      chart.namespace,
      "--leader-election-id",
      chart.release,
      "--namespace-permissions",
    ],
  });
  const w = await world();
  await w.core.patchNamespace(
    {
      name: ns,
      body: { metadata: { annotations: { "aws-assume-role.pincette.net/permitted-roles": "chart-*" } } },
    },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
  await createResource(ns, "via-chart-rbac", {
    roleName: "chart-role",
    secretName: "via-chart-rbac",
    secretType: "Map",
  });
  const resource = await waitForReady(ns, "via-chart-rbac");
  assert.equal(resource.status?.roleArn, "arn:aws:iam::123456789012:role/chart-role");
  const data = await secretData(ns, "via-chart-rbac");
  assert.deepEqual(Object.keys(data ?? {}).sort(), [
    "awsAccessKeyId",
    "awsSecretAccessKey",
    "awsSessionToken",
  ]);
  assert.doesNotMatch(operator.output(), /forbidden/i, "no request of the operator was refused");

  const asChart = chart.kubeConfig.makeApiClient(k8s.CoreV1Api);
  await assert.rejects(asChart.listNamespacedConfigMap({ namespace: ns }), (err: unknown) => {
    assert.equal((err as { code?: number }).code, 403);
    return true;
  });
});

const ECR_PULL = {
  roleName: "chart-role",
  secretName: "pull",
  secretType: "EcrDockerConfigJson",
  ecrRepositoryUrl: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
  serviceAccounts: ["builder"],
};

async function pullSecretNames(namespace: string, name: string): Promise<string[]> {
  const w = await world();
  const sa = await w.core.readNamespacedServiceAccount({ namespace, name });
  return (sa.imagePullSecrets ?? []).map((r) => r.name!);
}

test("with serviceAccounts.enabled the chart's RBAC is enough to wire the pull secret into a ServiceAccount", async (t) => {
  const chart = await installChart(t, { "serviceAccounts.enabled": "true" });
  const ns = await freshNamespace(t, {});
  const w = await world();
  await w.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "builder" } } });
  const operator = await startOperator(t, {
    namespaces: [ns],
    env: { KUBECONFIG: chart.kubeConfigFile },
    args: ["--service-accounts"],
  });
  await createResource(ns, "pull", ECR_PULL);
  await eventually("builder to get the pull secret", async () =>
    (await pullSecretNames(ns, "builder")).includes("pull") ? true : undefined,
  );
  await w.custom.deleteNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace: ns,
    name: "pull",
  });
  await eventually("the entry removed on deletion", async () =>
    (await pullSecretNames(ns, "builder")).length === 0 ? true : undefined,
  );
  assert.doesNotMatch(operator.output(), /forbidden/i, "no request of the operator was refused");
});

test("an operator not allowed to patch ServiceAccounts does not keep a resource from being deleted", async (t) => {
  // The chart without serviceAccounts.enabled, plus patch on the resources (as if the rule on ServiceAccounts had
  // been taken away while finalizers exist), and the flag passed: every ServiceAccount request is a 403.
  const chart = await installChart(t, {});
  const ns = await freshNamespace(t, {});
  const rbac = (await world()).kubeConfig.makeApiClient(k8s.RbacAuthorizationV1Api);
  const name = `${chart.release}-patch-resources`;
  await rbac.createClusterRole({
    body: {
      metadata: { name },
      rules: [{ apiGroups: ["pincette.net"], resources: ["awsassumeroles"], verbs: ["patch"] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name: "aws-assume-role-controller", namespace: chart.namespace }],
    },
  });
  t.after(async () => {
    await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbac.deleteClusterRole({ name }).catch(() => undefined);
  });
  await startOperator(t, {
    namespaces: [ns],
    env: { KUBECONFIG: chart.kubeConfigFile },
    args: ["--service-accounts"],
  });
  await createResource(ns, "pull", ECR_PULL);
  await eventually("the finalizer", async () =>
    (await getResource(ns, "pull")).metadata.finalizers?.length ? true : undefined,
  );
  await kubectl(["-n", ns, "delete", "aar", "pull", "--wait=false"]);
  await eventually("the resource to be gone", () =>
    getResource(ns, "pull").then(
      () => undefined,
      () => true,
    ),
  );
  const events = JSON.parse(await kubectl(["-n", ns, "get", "events", "-o", "json"])) as {
    items: { reason?: string; type?: string; message?: string }[];
  };
  const warning = events.items.find((e) => e.reason === "ServiceAccountsNotCleaned");
  assert.equal(warning?.type, "Warning");
  assert.match(warning?.message ?? "", /builder/);
});
