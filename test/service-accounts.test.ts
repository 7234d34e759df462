// spec.serviceAccounts of the namespaced kind against the real test world: the pull secret is added to the listed
// ServiceAccounts' imagePullSecrets (ones created later included), removed when a name leaves the list and when the
// resource is deleted (its finalizer), while entries the user wrote stay; a restart costs no AWS call and no
// ServiceAccount patch; without --service-accounts the resource says the feature is off and stays deletable.
// (The cluster kind's wiring is tested in cluster-fan-out.test.ts, the one file that runs cluster operators.)
import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1ServiceAccount } from "@kubernetes/client-node";
import { WIRED_ANNOTATION, WIRED_LABEL, SERVICE_ACCOUNTS_FINALIZER } from "../src/domain/pull-secrets.ts";
import { FAST_RETRY, createResource, getResource, startOperator, waitForReady } from "./support/operator.ts";
import { eventually, freshNamespace, kubectl, privateProxy, staysTheSame, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";

const ECR_URL = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const ARGS = ["--service-accounts", ...FAST_RETRY];

function pullSpec(serviceAccounts: string[]): Record<string, unknown> {
  return {
    roleName: "ecr-pull",
    secretName: "pull",
    secretType: "EcrDockerConfigJson",
    ecrRepositoryUrl: ECR_URL,
    serviceAccounts,
  };
}

async function createServiceAccount(
  namespace: string,
  name: string,
  pullSecrets: string[] = [],
): Promise<void> {
  const w = await world();
  await w.core.createNamespacedServiceAccount({
    namespace,
    body: {
      metadata: { name },
      ...(pullSecrets.length ? { imagePullSecrets: pullSecrets.map((n) => ({ name: n })) } : {}),
    },
  });
}

async function readServiceAccount(namespace: string, name: string): Promise<V1ServiceAccount> {
  const w = await world();
  return w.core.readNamespacedServiceAccount({ namespace, name });
}

/** The ServiceAccount's imagePullSecrets names, once they are exactly `expected`. */
async function pullSecretsBecome(
  namespace: string,
  name: string,
  expected: string[],
): Promise<V1ServiceAccount> {
  return eventually(`${namespace}/${name} to have imagePullSecrets [${expected.join(", ")}]`, async () => {
    const sa = await readServiceAccount(namespace, name);
    const names = (sa.imagePullSecrets ?? []).map((r) => r.name);
    return JSON.stringify(names) === JSON.stringify(expected) ? sa : undefined;
  });
}

/** Removes our finalizer when the test ends, so a failed test cannot leave its namespace terminating forever. */
function releaseOnExit(t: TestContext, namespace: string, name: string): void {
  t.after(() =>
    kubectl([
      "-n",
      namespace,
      "patch",
      "aar",
      name,
      "--type=merge",
      "-p",
      '{"metadata":{"finalizers":null}}',
    ]).catch(() => undefined),
  );
}

test("listed ServiceAccounts get the pull secret, later ones too; a removed name and deletion take only our entry out", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await createServiceAccount(ns, "builder", ["user-own"]);
  await createServiceAccount(ns, "runner");
  await createServiceAccount(ns, "keeper", ["pull"]); // the user put our Secret there already
  await createServiceAccount(ns, "unlisted");
  const first = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: ARGS });
  releaseOnExit(t, ns, "pull");
  await createResource(ns, "pull", pullSpec(["builder", "runner", "keeper", "later"]));
  await waitForReady(ns, "pull");

  const builder = await pullSecretsBecome(ns, "builder", ["user-own", "pull"]);
  assert.deepEqual(JSON.parse(builder.metadata!.annotations![WIRED_ANNOTATION]!), {
    "AWSAssumeRole/pull": "pull",
  });
  await pullSecretsBecome(ns, "runner", ["pull"]);
  const keeper = await readServiceAccount(ns, "keeper");
  assert.equal(
    keeper.metadata?.annotations?.[WIRED_ANNOTATION],
    undefined,
    "the user's own entry is not recorded",
  );
  assert.deepEqual((await readServiceAccount(ns, "unlisted")).imagePullSecrets ?? [], []);
  const resource = await eventually("status.serviceAccounts with the missing one", async () => {
    const r = await getResource(ns, "pull");
    return r.status?.serviceAccounts?.wired === 3 ? r : undefined;
  });
  assert.deepEqual(resource.metadata.finalizers, [SERVICE_ACCOUNTS_FINALIZER]);
  assert.equal(resource.status?.serviceAccounts?.missing, 1);
  assert.deepEqual(resource.status?.serviceAccounts?.missingNames, [`${ns}/later`]);

  // A ServiceAccount created later is served from its name's watch.
  await createServiceAccount(ns, "later", ["own-later"]);
  await pullSecretsBecome(ns, "later", ["own-later", "pull"]);
  await eventually("status counts the later ServiceAccount", async () =>
    (await getResource(ns, "pull")).status?.serviceAccounts?.missing === 0 ? true : undefined,
  );

  // Restart: everything is in place, so no AWS call and no ServiceAccount patch.
  assert.equal(await first.stop(), 0);
  const names = ["builder", "runner", "keeper", "later", "unlisted"];
  const versions = new Map(
    await Promise.all(
      names.map(async (n) => [n, (await readServiceAccount(ns, n)).metadata?.resourceVersion] as const),
    ),
  );
  const lastSeq = Math.max(0, ...proxy.records().map((r) => r.seq));
  const resourceVersion = (await getResource(ns, "pull")).metadata.resourceVersion;
  const second = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: ARGS });
  await staysTheSame(2000, async () => {
    for (const n of names) {
      const now = (await readServiceAccount(ns, n)).metadata?.resourceVersion;
      if (now !== versions.get(n)) return `ServiceAccount ${n} was patched after the restart`;
    }
    const r = await getResource(ns, "pull");
    if (r.metadata.resourceVersion !== resourceVersion)
      return `the resource was rewritten: ${JSON.stringify(r)}`;
    return undefined;
  });
  assert.deepEqual(
    proxy
      .records({ sinceSeq: lastSeq })
      .map((r) => r.action)
      .filter((a) => a !== "GetCallerIdentity"),
    [],
    "no AWS call after the restart",
  );
  assert.ok(!second.logs().some((l) => String(l.msg).startsWith("imagePullSecrets entry")));

  // A name leaves the list: that ServiceAccount loses our entry, and our record and label with it.
  await kubectl([
    "-n",
    ns,
    "patch",
    "aar",
    "pull",
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { serviceAccounts: ["builder", "keeper", "later"] } }),
  ]);
  const runner = await pullSecretsBecome(ns, "runner", []);
  assert.equal(runner.metadata?.annotations?.[WIRED_ANNOTATION], undefined);
  assert.equal(runner.metadata?.labels?.[WIRED_LABEL], undefined);

  // Deleting the resource removes our entries, keeps the user's, and the resource goes away.
  await kubectl(["-n", ns, "delete", "aar", "pull", "--wait=false"]);
  await pullSecretsBecome(ns, "builder", ["user-own"]);
  await pullSecretsBecome(ns, "later", ["own-later"]);
  await pullSecretsBecome(ns, "keeper", ["pull"]);
  await eventually("the resource to be gone", () =>
    getResource(ns, "pull").then(
      () => undefined,
      () => true,
    ),
  );
});

test("without --service-accounts a resource listing ServiceAccounts says the feature is off, and stays deletable", async (t) => {
  const ns = await freshNamespace(t);
  await createServiceAccount(ns, "builder");
  await startOperator(t, { namespaces: [ns], args: FAST_RETRY });
  releaseOnExit(t, ns, "pull");
  await createResource(ns, "pull", pullSpec(["builder"]));
  const r = await eventually("status.serviceAccounts saying the feature is off", async () => {
    const r = await getResource(ns, "pull");
    return r.status?.serviceAccounts ? r : undefined;
  });
  assert.match(r.status!.serviceAccounts!.message, /--service-accounts/);
  assert.equal(r.metadata.finalizers, undefined, "no finalizer without the feature");
  await eventually("a Warning event ServiceAccountsDisabled", async () => {
    const out = await kubectl(["-n", ns, "get", "events", "-o", "json"]);
    const items = (JSON.parse(out) as { items: { reason?: string; type?: string }[] }).items;
    return items.some((e) => e.reason === "ServiceAccountsDisabled" && e.type === "Warning")
      ? true
      : undefined;
  });
  assert.deepEqual((await readServiceAccount(ns, "builder")).imagePullSecrets ?? [], []);

  // A finalizer left by an operator that had the feature is removed on deletion, so the resource goes away.
  await kubectl([
    "-n",
    ns,
    "patch",
    "aar",
    "pull",
    "--type=merge",
    "-p",
    JSON.stringify({ metadata: { finalizers: [SERVICE_ACCOUNTS_FINALIZER] } }),
  ]);
  await kubectl(["-n", ns, "delete", "aar", "pull", "--wait=false"]);
  await eventually("the resource to be gone", () =>
    getResource(ns, "pull").then(
      () => undefined,
      () => true,
    ),
  );
});

test("only listed and wired ServiceAccounts are cached, however many unrelated ones exist", async (t) => {
  const ns = await freshNamespace(t);
  const w = await world();
  await createServiceAccount(ns, "builder");
  const op = await startOperator(t, { namespaces: [ns], args: ARGS, endpoints: true });
  releaseOnExit(t, ns, "pull");
  await createResource(ns, "pull", pullSpec(["builder"]));
  await pullSecretsBecome(ns, "builder", ["pull"]);
  for (let i = 0; i < 200; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, j) =>
        w.core.createNamespacedServiceAccount({
          namespace: ns,
          body: { metadata: { name: `unrelated-${i + j}` } },
        }),
      ),
    );
  }
  // The watch of the listed name sees a ServiceAccount event only for "builder": touch it, and wait for that.
  await kubectl(["-n", ns, "annotate", "sa", "builder", "touched=yes"]);
  const cached = await eventually("the cached ServiceAccounts gauge", async () => {
    const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
    const m = /^aws_assume_role_cached_service_accounts (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  });
  // "builder" once in its name's watch and once in the watch of ServiceAccounts carrying our record.
  assert.equal(cached, 2, "200 unrelated ServiceAccounts are not cached");
});
