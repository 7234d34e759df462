// Ownership: a Secret the operator did not create for this resource is never modified or deleted. The resource
// reports the conflict (Ready=False, SecretConflict, one Warning event) and takes the name once it is free.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CoreV1Event, V1Secret } from "@kubernetes/client-node";
import { eventually, freshNamespace, privateProxy, world } from "./support/world.ts";
import { createResource, startOperator, waitForReady } from "./support/operator.ts";

const MANAGED_BY = "app.kubernetes.io/managed-by";
// The operator looks again this often while the name is taken (the foreign Secret is not in its cache).
const CONFLICT_RETRY_MS = 500;
// Long enough for several conflict retries; only used to show that nothing happens to the foreign Secret.
const QUIET_MS = 2_500;

const SPEC = { roleName: "conflict-role", secretName: "creds", secretType: "Map" };

async function startWatching(t: Parameters<typeof freshNamespace>[0]): Promise<string> {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    args: ["--conflict-retry-ms", String(CONFLICT_RETRY_MS)],
  });
  return ns;
}

async function readSecret(ns: string, name: string): Promise<V1Secret> {
  const w = await world();
  return w.core.readNamespacedSecret({ namespace: ns, name });
}

/** The parts of a Secret that must not change: identity, version, type, data, labels, annotations, owners. */
function fingerprint(secret: V1Secret): unknown {
  const m = secret.metadata ?? {};
  return {
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    type: secret.type,
    data: secret.data,
    labels: m.labels,
    annotations: m.annotations,
    ownerReferences: m.ownerReferences,
  };
}

async function warningEvents(ns: string, name: string, reason: string): Promise<CoreV1Event[]> {
  const w = await world();
  const list = await w.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${name},type=Warning,reason=${reason}`,
  });
  return list.items;
}

/** The conflict is reported once, not once per retry: one Event, never bumped. */
async function assertOneWarning(ns: string, name: string): Promise<void> {
  const events = await warningEvents(ns, name, "SecretConflict");
  assert.deepEqual(
    events.map((e) => e.count),
    [1],
    "one SecretConflict Warning although the resource kept retrying",
  );
}

async function expectConflictReported(ns: string, name: string, messagePart: RegExp): Promise<void> {
  const resource = await waitForReady(ns, name, "False", "SecretConflict");
  const ready = resource.status?.conditions?.find((c) => c.type === "Ready");
  assert.match(ready?.message ?? "", messagePart);
  assert.equal(resource.status?.observedGeneration, resource.metadata.generation);
  const events = await eventually(
    `a Warning SecretConflict event on ${ns}/${name}`,
    async () => {
      const events = await warningEvents(ns, name, "SecretConflict");
      return events.length > 0 ? events.map((e) => e.message ?? "") : undefined;
    },
    10_000,
  );
  assert.match(events[0]!, messagePart);
}

for (const variant of [
  { what: "a foreign Secret with the same name", labels: {} as Record<string, string> },
  // Carrying the operator's label puts it in the operator's cache; ownership is still decided by its owner.
  {
    what: "a foreign Secret with the same name and the operator's label",
    labels: { [MANAGED_BY]: "aws-assume-role-operator" },
  },
]) {
  test(`${variant.what} is never touched, and the resource takes the name once it is deleted`, async (t) => {
    const ns = await startWatching(t);
    const w = await world();
    await w.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "creds", labels: variant.labels, annotations: { team: "payments" } },
        type: "Opaque",
        stringData: { password: "hunter2" },
      },
    });
    const before = fingerprint(await readSecret(ns, "creds"));

    await createResource(ns, "app", SPEC);
    await expectConflictReported(ns, "app", /Secret creds already exists and belongs to something other/);
    await new Promise((r) => setTimeout(r, QUIET_MS));
    assert.deepEqual(fingerprint(await readSecret(ns, "creds")), before, "the foreign Secret is unchanged");
    await assertOneWarning(ns, "app");
    const resource = await waitForReady(ns, "app", "False", "SecretConflict");
    assert.equal(resource.status?.expirationTime, undefined, "no credentials are reported");

    await w.core.deleteNamespacedSecret({ namespace: ns, name: "creds" });
    const recovered = await waitForReady(ns, "app", "True", "CredentialsReady");
    const ours = await readSecret(ns, "creds");
    assert.notEqual(ours.metadata?.uid, (before as { uid: string }).uid);
    assert.equal(ours.metadata?.labels?.[MANAGED_BY], "aws-assume-role-operator");
    assert.deepEqual(
      ours.metadata?.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]),
      [["AWSAssumeRole", recovered.metadata.uid, true]],
    );
    assert.deepEqual(Object.keys(ours.data ?? {}).sort(), [
      "awsAccessKeyId",
      "awsSecretAccessKey",
      "awsSessionToken",
    ]);
    assert.equal(
      ours.metadata?.annotations?.team,
      undefined,
      "nothing of the foreign Secret is carried over",
    );
  });
}

test("a Secret owned by something other than an AWSAssumeRole is left alone", async (t) => {
  const ns = await startWatching(t);
  const w = await world();
  const owner = await w.core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: "owner" } },
  });
  await w.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: {
        name: "creds",
        ownerReferences: [
          { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid!, controller: true },
        ],
      },
      stringData: { token: "abc" },
    },
  });
  const before = fingerprint(await readSecret(ns, "creds"));

  await createResource(ns, "app", SPEC);
  await expectConflictReported(ns, "app", /belongs to something other than this AWSAssumeRole/);
  await new Promise((r) => setTimeout(r, QUIET_MS));
  assert.deepEqual(fingerprint(await readSecret(ns, "creds")), before, "the foreign Secret is unchanged");
});

test("of two resources naming one Secret the first keeps it and the second reports the conflict", async (t) => {
  const ns = await startWatching(t);
  const first = await createResource(ns, "first", SPEC);
  await waitForReady(ns, "first", "True");
  const before = fingerprint(await readSecret(ns, "creds"));

  const second = await createResource(ns, "second", SPEC);
  await expectConflictReported(
    ns,
    "second",
    /Secret creds already exists and belongs to another AWSAssumeRole/,
  );
  await new Promise((r) => setTimeout(r, QUIET_MS));

  const after = await readSecret(ns, "creds");
  assert.deepEqual(fingerprint(after), before, "the first resource's Secret is unchanged");
  await assertOneWarning(ns, "second");
  assert.equal(after.metadata?.ownerReferences?.[0]?.uid, first.metadata.uid);
  await waitForReady(ns, "first", "True", "CredentialsReady");
  assert.deepEqual(
    await warningEvents(ns, "first", "SecretConflict"),
    [],
    "the first resource saw no conflict",
  );

  // Once the first resource is gone, its Secret is collected and the second takes the name.
  const w = await world();
  await w.custom.deleteNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace: ns,
    name: "first",
  });
  await waitForReady(ns, "second", "True", "CredentialsReady", 60_000);
  const taken = await readSecret(ns, "creds");
  assert.equal(taken.metadata?.ownerReferences?.[0]?.uid, second.metadata.uid);
});
