// The chart's RBAC is enough: the operator, run out of cluster with the token of the chart's own ServiceAccount
// (installed by the real helm into the test world), elects itself leader and reconciles a resource; an action
// outside the chart's rules is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { installChart } from "./support/chart.ts";
import { freshNamespace, privateProxy, world } from "./support/world.ts";
import { createResource, secretData, startOperator, waitForReady } from "./support/operator.ts";

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
