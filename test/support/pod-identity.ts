// Pod Identity on the node for the node tests: the chart installed with podIdentity.enabled and its agent Ready, and
// associations created and waited for. The world has no cluster DNS: the authority's Service gets a fixed address,
// which the agent is told.
import type * as k8s from "@kubernetes/client-node";
import { describePods, installOperator, isReady } from "./node.ts";
import type { NodeWorld } from "./node.ts";
import { eventually, kubectl } from "./world.ts";
import type { TestContext } from "./world.ts";

export const AGENT_NAMESPACE = "aws-pod-identity";
const AUTHORITY_IP = "10.0.0.200";

/** The agent's Pods, without those being deleted. */
export async function agentPods(w: NodeWorld): Promise<k8s.V1Pod[]> {
  return (await w.core.listNamespacedPod({ namespace: AGENT_NAMESPACE })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
}

/** Installs the chart with Pod Identity (uninstalled when the test ends) and waits for the node agent. */
export async function installWithPodIdentity(
  t: TestContext,
  w: NodeWorld,
  awsEndpoint: string,
): Promise<void> {
  await installOperator(t, w, awsEndpoint, {
    podIdentity: {
      enabled: true,
      service: { clusterIP: AUTHORITY_IP },
      agent: { authorityAddress: AUTHORITY_IP },
    },
  });
  await eventually(
    "the node agent Ready",
    async () => {
      const pods = await agentPods(w);
      return pods.length === 1 && pods.every(isReady) ? true : undefined;
    },
    120_000,
  ).catch(async (err: unknown) => {
    throw new Error(`${String(err)}\n${await describePods(AGENT_NAMESPACE)}`);
  });
}

export interface AssociationView {
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string }[];
    pods?: { injected: number; missed: number; missedNames?: string[] };
  };
}

export async function getAssociation(namespace: string, name: string): Promise<AssociationView> {
  return JSON.parse(
    await kubectl(["get", "awspodidentityassociation", name, "-n", namespace, "-o", "json"]),
  ) as AssociationView;
}

/** A ServiceAccount and its association with `roleName`, once Ready. */
export async function associate(
  namespace: string,
  serviceAccount: string,
  spec: { roleName: string; durationSeconds: number },
): Promise<void> {
  await kubectl(["create", "serviceaccount", serviceAccount, "-n", namespace]);
  await kubectl(
    ["create", "-f", "-"],
    JSON.stringify({
      apiVersion: "pincette.net/v1",
      kind: "AWSPodIdentityAssociation",
      metadata: { name: serviceAccount, namespace },
      spec: { serviceAccount, ...spec },
    }),
  );
  await eventually(`association ${serviceAccount} Ready`, async () =>
    (await getAssociation(namespace, serviceAccount)).status?.conditions?.some(
      (c) => c.type === "Ready" && c.status === "True",
    )
      ? true
      : undefined,
  );
}
