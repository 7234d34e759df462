// ClusterAWSAssumeRole against the real test world: one AssumeRole per refresh for the whole fan-out (counted in the
// AWS proxy's recording), namespaces that start or stop matching served or cleaned up through the Namespace watch,
// a foreign Secret left alone and reported, the garbage collector deleting every copy with the resource, and a
// restart that costs no AWS call. Each operator with --cluster-assume-roles sees every cluster resource, so each test
// holds the cluster-operator lock (test/support/cluster-lock.ts) that every file starting such an operator takes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import type { ClusterAWSAssumeRole } from "../src/api/cluster-schema.ts";
import { clusterRoleSessionName } from "../src/domain/naming.ts";
import { ApiException } from "@kubernetes/client-node";
import {
  FAST_RETRY,
  createClusterResource as createClusterObject,
  ensureCrd,
  readSecret,
  startOperator,
} from "./support/operator.ts";
import { clusterOperatorLock } from "./support/cluster-lock.ts";
import { eventually, kubectl, privateProxy, staysTheSame, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";
import type { AwsProxy } from "../testenv/aws-proxy/proxy.ts";
import type { ProxyRecord } from "./support/aws-proxy-client.ts";

const ARGS = ["--cluster-assume-roles", ...FAST_RETRY];
const SECRET = "registry-aws";

/** Names for `count` namespaces of this test (created by `createNamespaces`, deleted when the test ends). */
function namespaceNames(prefix: string, count: number): string[] {
  const id = randomBytes(3).toString("hex");
  return Array.from({ length: count }, (_, i) => `t-caar-${prefix}-${id}-${i}`);
}

async function createNamespaces(
  t: TestContext,
  names: string[],
  labels: Record<string, string>,
): Promise<void> {
  const w = await world();
  await Promise.all(
    names.map((name) =>
      w.core.createNamespace({ body: { metadata: { name, labels: { "aar-test": "true", ...labels } } } }),
    ),
  );
  t.after(async () => {
    await Promise.all(names.map((name) => w.core.deleteNamespace({ name }).catch(() => undefined)));
  });
}

async function createClusterResource(
  t: TestContext,
  name: string,
  selector: Record<string, string>,
  spec: Record<string, unknown> = { secretType: "Map" },
): Promise<void> {
  await createClusterObject(t, name, {
    roleName: "my-role",
    secretName: SECRET,
    ...spec,
    namespaceSelector: { matchLabels: selector },
  });
}

async function deleteClusterResource(name: string): Promise<void> {
  const w = await world();
  await w.custom
    .deleteClusterCustomObject({
      group: "pincette.net",
      version: "v1",
      plural: "clusterawsassumeroles",
      name,
    })
    .catch(() => undefined);
}

async function getClusterResource(name: string): Promise<ClusterAWSAssumeRole> {
  const w = await world();
  return (await w.custom.getClusterCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "clusterawsassumeroles",
    name,
  })) as ClusterAWSAssumeRole;
}

/** The resource once its status says `ready` of the selected namespaces hold the Secret (and Ready as given). */
function waitForCounts(
  name: string,
  want: { selected: number; ready: number; conflicts?: number },
  readyStatus: "True" | "False" = "True",
  timeoutMs = 60_000,
): Promise<ClusterAWSAssumeRole> {
  return eventually(
    `${name} to report ${JSON.stringify(want)}, Ready=${readyStatus}`,
    async () => {
      const r = await getClusterResource(name);
      const n = r.status?.namespaces;
      const ready = r.status?.conditions?.find((c) => c.type === "Ready");
      const matches =
        n?.selected === want.selected &&
        n.ready === want.ready &&
        (want.conflicts === undefined || n.conflicts === want.conflicts) &&
        ready?.status === readyStatus;
      return matches ? r : undefined;
    },
    timeoutMs,
  );
}

function assumeRoles(proxy: AwsProxy, name: string): ProxyRecord[] {
  return proxy
    .records({ action: "AssumeRole" })
    .filter((r) => r.params.RoleSessionName === clusterRoleSessionName(name));
}

async function removeLabel(namespace: string, key: string): Promise<void> {
  await kubectl(["label", "namespace", namespace, `${key}-`]);
}

test("50 selected namespaces hold identical fresh Secrets from one AssumeRole, and a restart makes no AWS call", async (t) => {
  await clusterOperatorLock(t);
  const selector = { "caar-fan": randomBytes(3).toString("hex") };
  const selected = namespaceNames("fan", 50);
  const [other] = namespaceNames("other", 1);
  await createNamespaces(t, selected, selector);
  await createNamespaces(t, [other!], {});
  const proxy = await privateProxy(t);
  const namespaces = [...selected, other!];
  const first = await startOperator(t, { namespaces, awsEndpoint: proxy.url, args: ARGS });
  const name = `fan-${randomBytes(3).toString("hex")}`;
  await createClusterResource(t, name, selector);

  const resource = await waitForCounts(name, { selected: 50, ready: 50, conflicts: 0 });
  assert.equal(assumeRoles(proxy, name).length, 1, "one AssumeRole for all 50 namespaces");
  assert.equal(resource.status?.conditions?.find((c) => c.type === "Ready")?.reason, "CredentialsReady");
  const secrets = await Promise.all(selected.map((ns) => readSecret(ns, SECRET)));
  const issued = assumeRoles(proxy, name)[0]!;
  for (const [i, secret] of secrets.entries()) {
    assert.ok(secret, `${selected[i]} holds the Secret`);
    assert.deepEqual(secret.data, secrets[0]!.data, `${selected[i]} holds the same credentials`);
    const owner = secret.metadata?.ownerReferences?.[0];
    assert.deepEqual([owner?.kind, owner?.name, owner?.controller], ["ClusterAWSAssumeRole", name, true]);
    assert.equal(secret.metadata?.labels?.["app.kubernetes.io/managed-by"], "aws-assume-role-operator");
  }
  assert.equal(
    Buffer.from(secrets[0]!.data!.awsAccessKeyId!, "base64").toString(),
    issued.issued?.accessKeyId,
  );
  assert.equal(await readSecret(other!, SECRET), undefined, "an unselected namespace gets nothing");

  // Restart: one copy deleted while the operator is down is restored from the others, without AWS.
  assert.equal(await first.stop(), 0);
  const w = await world();
  await w.core.deleteNamespacedSecret({ namespace: selected[7]!, name: SECRET });
  const versions = new Map(secrets.map((s) => [s!.metadata!.namespace!, s!.metadata!.resourceVersion]));
  const lastSeq = Math.max(0, ...proxy.records().map((r) => r.seq));
  const resourceVersion = (await getClusterResource(name)).metadata.resourceVersion;

  const second = await startOperator(t, { namespaces, awsEndpoint: proxy.url, args: ARGS });
  const restored = await eventually("the deleted copy restored by the new operator", () =>
    readSecret(selected[7]!, SECRET),
  );
  assert.deepEqual(restored.data, secrets[0]!.data, "restored with the current credentials");
  await staysTheSame(1500, async () => {
    for (const ns of selected) {
      if (ns === selected[7]) continue;
      const now: V1Secret | undefined = await readSecret(ns, SECRET);
      if (now?.metadata?.resourceVersion !== versions.get(ns)) return `the copy in ${ns} was rewritten`;
    }
    const r = await getClusterResource(name);
    if (r.metadata.resourceVersion !== resourceVersion)
      return `the status was rewritten: ${JSON.stringify(r.status)}`;
    return undefined;
  });
  const after = proxy.records({ sinceSeq: lastSeq }).map((r) => r.action);
  assert.deepEqual(
    after.filter((a) => a !== "GetCallerIdentity"),
    [],
    "no AWS call after the restart besides at most the identity",
  );
  assert.ok(
    second.logs().some((l) => l.msg === "copies written from the current credentials" && l.namespaces === 1),
    "the new operator logged the restored copy",
  );
});

test("namespaces that start and stop matching, a foreign Secret, and deleting the resource", async (t) => {
  await clusterOperatorLock(t);
  const selector = { "caar-life": randomBytes(3).toString("hex") };
  const [a, b, c, later] = namespaceNames("life", 4);
  await createNamespaces(t, [a!, b!, c!], selector);
  const w = await world();
  // c already has a Secret of that name that is not ours.
  await w.core.createNamespacedSecret({
    namespace: c!,
    body: { metadata: { name: SECRET }, stringData: { mine: "keep me" } },
  });
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [a!, b!, c!, later!], awsEndpoint: proxy.url, args: ARGS });
  const name = `life-${randomBytes(3).toString("hex")}`;
  await createClusterResource(t, name, selector);

  const conflicted = await waitForCounts(name, { selected: 3, ready: 2, conflicts: 1 }, "False");
  const ready = conflicted.status?.conditions?.find((x) => x.type === "Ready");
  assert.equal(ready?.reason, "SecretConflict");
  assert.deepEqual(
    conflicted.status?.namespaces?.failing?.map((f) => [f.namespace, f.reason]),
    [[c, "SecretConflict"]],
  );
  const foreign = (await readSecret(c!, SECRET))!;
  assert.equal(
    Buffer.from(foreign.data!.mine!, "base64").toString(),
    "keep me",
    "the foreign Secret is untouched",
  );
  assert.equal(foreign.metadata?.ownerReferences, undefined);
  const events = JSON.parse(
    await kubectl(["get", "events", "-A", "--field-selector", `involvedObject.name=${name}`, "-o", "json"]),
  ) as { items: { reason: string; type: string }[] };
  assert.ok(
    events.items.some((e) => e.reason === "SecretConflict" && e.type === "Warning"),
    "a Warning event",
  );

  // A namespace created later is served through the Namespace watch.
  await createNamespaces(t, [later!], selector);
  await eventually(
    "the namespace created later to hold the Secret",
    () => readSecret(later!, SECRET),
    15_000,
  );

  // A namespace unlabelled loses its copy.
  await removeLabel(b!, Object.keys(selector)[0]!);
  await eventually("the unlabelled namespace's copy to be deleted", async () =>
    (await readSecret(b!, SECRET)) === undefined ? true : undefined,
  );
  await waitForCounts(name, { selected: 3, ready: 2, conflicts: 1 }, "False");
  assert.equal(assumeRoles(proxy, name).length, 1, "still one AssumeRole");

  // Deleting the resource: the garbage collector deletes every copy; the foreign Secret stays.
  await deleteClusterResource(name);
  for (const ns of [a!, later!]) {
    await eventually(`the copy in ${ns} to be garbage-collected`, async () =>
      (await readSecret(ns, SECRET)) === undefined ? true : undefined,
    );
  }
  assert.ok(await readSecret(c!, SECRET), "the foreign Secret is still there");
});

async function pullSecretNames(namespace: string, name: string): Promise<string[] | undefined> {
  const w = await world();
  const sa = await w.core.readNamespacedServiceAccount({ namespace, name }).catch(() => undefined);
  return sa && (sa.imagePullSecrets ?? []).map((r) => r.name!);
}

/** Waits until the ServiceAccount's imagePullSecrets are exactly `expected`. */
function pullSecretsBecome(namespace: string, name: string, expected: string[]): Promise<true> {
  return eventually(`${namespace}/${name} to have imagePullSecrets [${expected.join(", ")}]`, async () =>
    JSON.stringify(await pullSecretNames(namespace, name)) === JSON.stringify(expected) ? true : undefined,
  );
}

test("serviceAccounts: selected namespaces' ServiceAccounts get the pull secret, and lose it with the namespace or the resource", async (t) => {
  await clusterOperatorLock(t);
  const selector = { "caar-sa": randomBytes(3).toString("hex") };
  const [a, b, later] = namespaceNames("sa", 3);
  await createNamespaces(t, [a!, b!], selector);
  const w = await world();
  for (const ns of [a!, b!]) {
    await w.core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: "builder" }, imagePullSecrets: [{ name: "user-own" }] },
    });
  }
  const proxy = await privateProxy(t);
  const namespaces = [a!, b!, later!];
  const args = [...ARGS, "--service-accounts"];
  const first = await startOperator(t, { namespaces, awsEndpoint: proxy.url, args });
  const name = `sa-${randomBytes(3).toString("hex")}`;
  await createClusterResource(t, name, selector, {
    secretType: "EcrDockerConfigJson",
    ecrRepositoryUrl: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    serviceAccounts: ["builder"],
  });
  t.after(() =>
    kubectl(["patch", "caar", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}']).catch(
      () => undefined,
    ),
  );
  await waitForCounts(name, { selected: 2, ready: 2 });
  for (const ns of [a!, b!]) await pullSecretsBecome(ns, "builder", ["user-own", SECRET]);
  assert.deepEqual((await getClusterResource(name)).metadata.finalizers, [
    "aws-assume-role.pincette.net/service-accounts",
  ]);

  // A namespace created later, and its ServiceAccount created after it, get the copy and the entry.
  await createNamespaces(t, [later!], selector);
  await eventually("the later namespace's copy", () => readSecret(later!, SECRET), 15_000);
  await w.core.createNamespacedServiceAccount({ namespace: later!, body: { metadata: { name: "builder" } } });
  await pullSecretsBecome(later!, "builder", [SECRET]);

  // Restart: no AWS call and no ServiceAccount patch.
  assert.equal(await first.stop(), 0);
  const versionOf = async (ns: string) =>
    (await w.core.readNamespacedServiceAccount({ namespace: ns, name: "builder" })).metadata?.resourceVersion;
  const versions = new Map(
    await Promise.all(namespaces.map(async (ns) => [ns, await versionOf(ns)] as const)),
  );
  const lastSeq = Math.max(0, ...proxy.records().map((r) => r.seq));
  await startOperator(t, { namespaces, awsEndpoint: proxy.url, args });
  await staysTheSame(1500, async () => {
    for (const ns of namespaces)
      if ((await versionOf(ns)) !== versions.get(ns)) return `the ServiceAccount in ${ns} was patched`;
    return undefined;
  });
  assert.deepEqual(
    proxy
      .records({ sinceSeq: lastSeq })
      .map((r) => r.action)
      .filter((x) => x !== "GetCallerIdentity"),
    [],
  );

  // A namespace unlabelled loses its copy and its ServiceAccount entry; the user's entry stays.
  await removeLabel(b!, Object.keys(selector)[0]!);
  await pullSecretsBecome(b!, "builder", ["user-own"]);
  await eventually("the unlabelled namespace's copy to be deleted", async () =>
    (await readSecret(b!, SECRET)) === undefined ? true : undefined,
  );

  // Deleting the resource takes our entries out everywhere, then the resource goes.
  await deleteClusterResource(name);
  await pullSecretsBecome(a!, "builder", ["user-own"]);
  await pullSecretsBecome(later!, "builder", []);
  await eventually("the resource to be gone", () =>
    getClusterResource(name).then(
      () => undefined,
      () => true,
    ),
  );
});

/** A server-side dry-run create of a ClusterAWSAssumeRole: the API server's message when it refuses. */
async function clusterRejection(spec: Record<string, unknown>): Promise<string> {
  await ensureCrd();
  const w = await world();
  try {
    await w.custom.createClusterCustomObject({
      group: "pincette.net",
      version: "v1",
      plural: "clusterawsassumeroles",
      body: {
        apiVersion: "pincette.net/v1",
        kind: "ClusterAWSAssumeRole",
        metadata: { generateName: "bad-" },
        spec,
      },
      dryRun: "All",
    });
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an API error, got ${String(err)}`);
    assert.equal(err.code, 422);
    return (JSON.parse(err.body as string) as { message: string }).message;
  }
  assert.fail(`the API server accepted ${JSON.stringify(spec)}`);
}

test("the CRD rejects a ClusterAWSAssumeRole without namespaceSelector or with a malformed one, readably", async () => {
  const base = { roleName: "r", secretName: "s", secretType: "Map" };
  assert.match(await clusterRejection(base), /namespaceSelector: Required value/);
  assert.match(
    await clusterRejection({
      ...base,
      namespaceSelector: { matchExpressions: [{ key: "a", operator: "In" }] },
    }),
    /values must be non-empty for In and NotIn/,
  );
  assert.match(
    await clusterRejection({ ...base, namespaceSelector: {}, secretType: "EcrDockerConfigJson" }),
    /ecrRepositoryUrl \(or ecrRepositoryUrls\) is required when secretType is EcrDockerConfigJson/,
  );
});
