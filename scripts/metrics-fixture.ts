// Writes test/fixtures/metrics.prom: the operator's real /metrics after a short run against the test world, so the
// chart's alert tests and dashboard checks (test/chart-alerts.test.ts) feed promtool series shaped as the operator
// really exports them. Run it again when metrics change and commit the result:
//
//   node scripts/metrics-fixture.ts        (starts the test world if it is not running: scripts/testenv up)
//
// The run holds every kind and state the rules and panels look at: an AWSAssumeRole that is Ready, one AWS refuses
// (AccessDenied, injected by a private AWS proxy for that resource only), a ClusterAWSAssumeRole with one namespace,
// an AWSPodIdentityAssociation and one answer of the Pod Identity credential authority (a request without tokens).
import { writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import {
  createClusterResource,
  createResource,
  freePorts,
  mapSpec,
  startOperator,
  waitForReady,
} from "../test/support/operator.ts";
import { ROOT, eventually, kubectl, privateProxy, world } from "../test/support/world.ts";
import type { TestContext } from "../test/support/world.ts";
import { parseExposition } from "../test/support/exposition.ts";
import { roleSessionName } from "../src/domain/naming.ts";

const OUT = join(ROOT, "test", "fixtures", "metrics.prom");
const NAMESPACE = "metrics-fixture";
const AGENTS = "metrics-fixture-agents";
const CLUSTER_RESOURCE = "metrics-fixture-shared";
const SERVICE = "metrics-fixture-pod-identity";
const WEBHOOK = "metrics-fixture-pod-identity";

/** Cleanups run in reverse order at the end, as node:test runs a test's `after` hooks. */
const cleanups: (() => unknown)[] = [];
const t: TestContext = { name: "metrics fixture", after: (fn) => void cleanups.push(fn) };

async function cleanUp(): Promise<void> {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}

const apply = (object: object) => kubectl(["apply", "-f", "-"], JSON.stringify(object));

/** An HTTPS GET of the credential authority as an agent without its tokens: the authority refuses it. */
function askWithoutTokens(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/pod-credentials",
        servername: `${SERVICE}.${AGENTS}.svc`,
        ca,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function main(): Promise<void> {
  await world(); // the test world, started if it is not running
  for (const name of [NAMESPACE, AGENTS]) {
    await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { "aar-test": "true" } } });
    t.after(() => kubectl(["delete", "namespace", name, "--wait=false"]));
  }
  await kubectl(["label", "namespace", NAMESPACE, "metrics-fixture=true", "--overwrite"]);
  await kubectl(["create", "serviceaccount", "agent", "-n", AGENTS]).catch(() => undefined);

  const proxy = await privateProxy(t);
  proxy.setFaults([
    {
      service: "sts",
      action: "AssumeRole",
      sessionPrefix: roleSessionName(NAMESPACE, "denied"),
      kind: "error",
      httpStatus: 403,
      code: "AccessDenied",
      message: "injected for the metrics fixture",
    },
  ]);
  const [podIdentityPort] = (await freePorts(1)) as [number];
  const operator = await startOperator(t, {
    namespaces: [NAMESPACE, AGENTS],
    awsEndpoint: proxy.url,
    env: { POD_NAMESPACE: AGENTS },
    waitFor: "pod identity server listening",
    endpoints: true,
    args: [
      "--cluster-assume-roles",
      "--pod-identity",
      "--pod-identity-bind-address",
      `127.0.0.1:${podIdentityPort}`,
      "--pod-identity-agent",
      `${AGENTS}/agent`,
      "--pod-identity-service",
      SERVICE,
      "--pod-identity-webhook",
      WEBHOOK,
    ],
  });
  t.after(() => kubectl(["delete", "mutatingwebhookconfiguration", WEBHOOK, "--ignore-not-found"]));

  await createResource(NAMESPACE, "app", mapSpec("app-aws"));
  await createResource(NAMESPACE, "denied", mapSpec("denied-aws"));
  await createClusterResource(t, CLUSTER_RESOURCE, {
    roleName: "my-role",
    secretName: "shared-aws",
    secretType: "Map",
    namespaceSelector: { matchLabels: { "metrics-fixture": "true" } },
  });
  await apply({
    apiVersion: "pincette.net/v1",
    kind: "AWSPodIdentityAssociation",
    metadata: { name: "reader", namespace: NAMESPACE },
    spec: { serviceAccount: "app", roleName: "reader" },
  });

  await waitForReady(NAMESPACE, "app");
  await waitForReady(NAMESPACE, "denied", "False", "AccessDenied");
  await eventually(
    `ClusterAWSAssumeRole ${CLUSTER_RESOURCE} Ready`,
    async () => {
      const out = await kubectl(["get", "clusterawsassumerole", CLUSTER_RESOURCE, "-o", "json"]);
      const ready = (
        JSON.parse(out) as { status?: { conditions?: { type: string; status: string }[] } }
      ).status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "True" ? true : undefined;
    },
    30_000,
  );
  const secret = JSON.parse(
    await kubectl(["get", "secret", "aws-assume-role-operator-pod-identity-tls", "-n", AGENTS, "-o", "json"]),
  ) as { data: Record<string, string> };
  const ca = Buffer.from(secret.data["ca.crt"]!, "base64").toString("utf8");
  const status = await askWithoutTokens(podIdentityPort, ca);
  if (status < 400) throw new Error(`the authority answered a request without tokens with HTTP ${status}`);

  // Scrape once every series the rules and panels read is there (the association's condition included).
  const text = await eventually(
    "the operator's /metrics to hold every kind's condition",
    async () => {
      const res = await fetch(`${operator.metricsUrl}/metrics`);
      const body = await res.text();
      const kinds = new Set(
        parseExposition(body)
          .samples.filter((s) => s.name === "aws_assume_role_resource_condition")
          .map((s) => s.labels.kind),
      );
      const wanted = ["AWSAssumeRole", "ClusterAWSAssumeRole", "AWSPodIdentityAssociation"];
      return wanted.every((k) => kinds.has(k)) ? body : undefined;
    },
    30_000,
  );
  writeFileSync(
    OUT,
    "# The operator's /metrics after a test-world run (node scripts/metrics-fixture.ts writes it; do not edit).\n" +
      text,
  );
  console.log(`wrote ${OUT}: ${parseExposition(text).samples.length} samples`);
}

try {
  await main();
} finally {
  await cleanUp();
}
process.exit(0);
