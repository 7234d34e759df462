// An image pull by the kubelet through an `EcrDockerConfigJson` Secret, from the test world's "ECR": an OCI registry
// on the node's address (testenv/registry) that containerd reaches for the ECR host name of moto's account
// (hosts.toml), and that accepts, as ECR does, HTTP Basic "AWS:<token>" with exactly the tokens ECR
// GetAuthorizationToken issued (the AWS proxy signs them with a key it shares with the registry), until they expire.
//   - podman pushes the pause image with a token from GetAuthorizationToken; without one, or with an expired one,
//     the registry refuses;
//   - a Pod whose imagePullSecrets name the operator's Secret pulls the image (imagePullPolicy Always) and runs;
//   - without the Secret, or with a Secret holding a token ECR did not issue, the pull fails (ErrImagePull);
//   - a Pod that names no pull secret, only a ServiceAccount the operator wired (`serviceAccounts`), pulls too.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import type * as k8s from "@kubernetes/client-node";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import { createResource, readSecret, startOperator, waitForReady } from "../support/operator.ts";
import {
  hasEcrRegistry,
  hasNode,
  NO_NODE,
  nodeWorld,
  podReachableProxy,
  restrictedContainer,
  runPod,
  suiteContext,
} from "../support/node.ts";
import type { NodeWorld } from "../support/node.ts";
import { eventually, freshNamespace } from "../support/world.ts";

const run = promisify(execFile);
const PAUSE_IMAGE = "localhost/aar-pause:1"; // scripts/testenv imports it into podman and the node
const REPOSITORY = "aar/pause:1";

function pullingPod(
  name: string,
  image: string,
  pullSecret?: string,
  serviceAccountName?: string,
): k8s.V1Pod {
  return {
    metadata: { name },
    spec: {
      ...(serviceAccountName ? { serviceAccountName } : {}),
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      imagePullSecrets: pullSecret ? [{ name: pullSecret }] : [],
      containers: [
        { name: "pulled", image, imagePullPolicy: "Always", securityContext: restrictedContainer },
      ],
    },
  };
}

/** The reason the Pod's container waits for, once it is an image pull failure. */
async function pullFailure(w: NodeWorld, ns: string, name: string): Promise<string> {
  return eventually(
    `Pod ${name}: the image pull failing`,
    async () => {
      const pod = await w.core.readNamespacedPod({ name, namespace: ns });
      if (pod.status?.phase === "Running") throw new Error(`Pod ${name} runs: the pull should have failed`);
      const reason = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return reason === "ErrImagePull" || reason === "ImagePullBackOff" ? reason : undefined;
    },
    60_000,
    250,
  );
}

const NO_REGISTRY = "the node world runs without its registry (scripts/testenv down, then up --node)";

describe(
  "an image pull through an EcrDockerConfigJson Secret",
  {
    skip: !hasNode() ? NO_NODE : hasEcrRegistry() ? false : NO_REGISTRY,
  },
  () => {
    const suite = suiteContext("ECR pull on the node", after);
    let w: NodeWorld;
    let proxy: AwsProxy;
    let ns: string;
    let ecrHost: string;
    let pushTarget: string;

    before(async () => {
      const found = await nodeWorld();
      if (!found) throw new Error(NO_NODE);
      w = found;
      ecrHost = w.env.TESTENV_ECR_REGISTRY!;
      pushTarget = `${new URL(w.env.TESTENV_REGISTRY_URL!).host}/${REPOSITORY}`;
      proxy = await podReachableProxy(suite, w);
      ns = await freshNamespace(suite, { "pod-security.kubernetes.io/enforce": "restricted" });
      // The operator runs on the host (the chart's Pods are tested elsewhere): what is tested is kubelet → registry.
      await startOperator(suite, { namespaces: [ns], awsEndpoint: proxy.url, args: ["--service-accounts"] });
    });

    test("podman pushes with a token from GetAuthorizationToken; not without one, nor with an expired one", async () => {
      const push = (creds: string[]) =>
        run("podman", ["push", "--quiet", "--tls-verify=false", ...creds, PAUSE_IMAGE, pushTarget]);
      await assert.rejects(push([]), /401|unauthorized|authentication required/i, "no credentials: refused");
      await assert.rejects(push(["--creds", "AWS:0.0.0"]), /401|unauthorized|authentication required/i);
      const ecr = new ECRClient({
        endpoint: proxy.url,
        region: w.env.AWS_REGION!,
        credentials: { accessKeyId: w.env.AWS_ACCESS_KEY_ID!, secretAccessKey: w.env.AWS_SECRET_ACCESS_KEY! },
      });
      const issue = async (): Promise<string> => {
        const out = await ecr.send(new GetAuthorizationTokenCommand({}));
        return Buffer.from(out.authorizationData![0]!.authorizationToken!, "base64").toString("utf8");
      };
      try {
        proxy.setLifetime({ ecrSeconds: -1 });
        const expired = await issue();
        await assert.rejects(
          push(["--creds", expired]),
          /401|unauthorized|authentication required/i,
          "expired",
        );
        proxy.setLifetime({});
        await push(["--creds", await issue()]);
      } finally {
        proxy.setLifetime({});
        ecr.destroy();
      }
    });

    test("a Pod pulls with the operator's Secret; without it, or with a token ECR did not issue, the pull fails", async (t) => {
      const image = `${ecrHost}/${REPOSITORY}`;
      await createResource(ns, "ecr-pull", {
        roleName: "node-ecr-role",
        secretName: "ecr-pull",
        secretType: "EcrDockerConfigJson",
        ecrRepositoryUrl: `https://${ecrHost}`,
      });
      await waitForReady(ns, "ecr-pull", "True", undefined, 60_000);
      const secret = await readSecret(ns, "ecr-pull");
      const config = JSON.parse(
        Buffer.from(secret!.data![".dockerconfigjson"]!, "base64").toString("utf8"),
      ) as {
        auths: Record<string, { auth: string }>;
      };
      const issued = proxy
        .records({ action: "GetAuthorizationToken" })
        .map((r) => r.issued?.authorizationToken);
      assert.ok(issued.includes(Object.values(config.auths)[0]!.auth), "the Secret holds a token ECR issued");

      await runPod(ns, pullingPod("with-secret", image, "ecr-pull"));
      t.diagnostic(`pulled ${image} with the operator's Secret`);

      await w.core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: "not-issued" },
          type: "kubernetes.io/dockerconfigjson",
          data: {
            ".dockerconfigjson": Buffer.from(
              JSON.stringify({
                auths: {
                  [`https://${ecrHost}`]: {
                    auth: Buffer.from(`AWS:${Date.now() + 3600}.0.0`).toString("base64"),
                  },
                },
              }),
            ).toString("base64"),
          },
        },
      });
      await w.core.createNamespacedPod({ namespace: ns, body: pullingPod("without-secret", image) });
      await w.core.createNamespacedPod({
        namespace: ns,
        body: pullingPod("not-issued", image, "not-issued"),
      });
      const reasons = await Promise.all([
        pullFailure(w, ns, "without-secret"),
        pullFailure(w, ns, "not-issued"),
      ]);
      t.diagnostic(`without a Secret: ${reasons[0]}; with a token ECR did not issue: ${reasons[1]}`);
    });

    test("a Pod that names only a ServiceAccount the operator wired pulls with the operator's Secret", async (t) => {
      const image = `${ecrHost}/${REPOSITORY}`;
      await createResource(ns, "ecr-sa", {
        roleName: "node-ecr-role",
        secretName: "ecr-sa",
        secretType: "EcrDockerConfigJson",
        ecrRepositoryUrl: `https://${ecrHost}`,
        serviceAccounts: ["puller"],
      });
      await waitForReady(ns, "ecr-sa", "True", undefined, 60_000);
      // Created after the resource: the operator's watch of that name wires it.
      await w.core.createNamespacedServiceAccount({
        namespace: ns,
        body: { metadata: { name: "puller" }, imagePullSecrets: [{ name: "users-own" }] },
      });
      await eventually("the ServiceAccount wired with the operator's Secret", async () => {
        const sa = await w.core.readNamespacedServiceAccount({ name: "puller", namespace: ns });
        const names = (sa.imagePullSecrets ?? []).map((s) => s.name);
        return names.includes("ecr-sa") ? names : undefined;
      });
      const pod = await runPod(ns, pullingPod("through-sa", image, undefined, "puller"));
      // The ServiceAccount admission plugin copied the ServiceAccount's pull secrets into the Pod.
      assert.deepEqual((pod.spec?.imagePullSecrets ?? []).map((s) => s.name).sort(), ["ecr-sa", "users-own"]);
      t.diagnostic(`pulled ${image} through ServiceAccount puller`);
    });
  },
);
