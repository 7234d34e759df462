// Drift repair: whatever someone does to an owned Secret (delete it, edit its data, strip its label or its
// ownerReferences), the operator notices from its watch and puts the Secret back, with fresh credentials.
// The caches' periodic relist is an hour away, so a repair within the timeout shows that the watch event did it.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Secret } from "@kubernetes/client-node";
import { eventually, freshNamespace, privateProxy, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";
import { createResource, startOperator, waitForReady } from "./support/operator.ts";
import type { AwsProxy } from "../testenv/aws-proxy/proxy.ts";

const MANAGED_BY = "app.kubernetes.io/managed-by";
const MAP_KEYS = ["awsAccessKeyId", "awsSecretAccessKey", "awsSessionToken"];
const REPAIR_TIMEOUT_MS = 20_000;

interface Setup {
  ns: string;
  uid: string;
  proxy: AwsProxy;
  secret: V1Secret;
}

/** A namespace with an operator and one Ready Map resource whose Secret is `creds`. */
async function readyResource(t: TestContext): Promise<Setup> {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  const created = await createResource(ns, "app", {
    roleName: "drift-role",
    secretName: "creds",
    secretType: "Map",
  });
  await waitForReady(ns, "app");
  const w = await world();
  const secret = await w.core.readNamespacedSecret({ namespace: ns, name: "creds" });
  return { ns, uid: created.metadata.uid!, proxy, secret };
}

function decoded(secret: V1Secret): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
}

/** What is wrong with the Secret's shape as the operator writes it, or undefined when nothing is. */
function shapeProblem(secret: V1Secret, ownerUid: string): string | undefined {
  if (secret.metadata?.labels?.[MANAGED_BY] !== "aws-assume-role-operator") return "managed-by label missing";
  const refs = secret.metadata?.ownerReferences ?? [];
  const owner = refs.find((r) => r.controller === true);
  if (refs.length !== 1 || owner?.uid !== ownerUid || owner.kind !== "AWSAssumeRole") {
    return `ownerReferences are ${JSON.stringify(refs)}`;
  }
  const keys = Object.keys(secret.data ?? {}).sort();
  if (JSON.stringify(keys) !== JSON.stringify(MAP_KEYS)) return `keys are ${keys.join(",")}`;
  return undefined;
}

/**
 * Waits until the Secret is back in shape and holds exactly the credentials STS handed out after `sinceSeq`
 * (not the tampered data, not the credentials from before), then until the resource is Ready.
 */
async function waitForRepair(s: Setup, sinceSeq: number, what: string): Promise<V1Secret> {
  const w = await world();
  let last = "not read yet";
  const repaired = await eventually(
    `Secret creds repaired after ${what}`,
    async () => {
      const secret = await w.core
        .readNamespacedSecret({ namespace: s.ns, name: "creds" })
        .catch(() => undefined);
      if (!secret) {
        last = "absent";
        return undefined;
      }
      const problem = shapeProblem(secret, s.uid);
      if (problem) {
        last = problem;
        return undefined;
      }
      const issued = s.proxy.records({ action: "AssumeRole", sinceSeq }).at(-1)?.issued;
      if (!issued) {
        last = "no new AssumeRole yet";
        return undefined;
      }
      const data = decoded(secret);
      if (data.awsAccessKeyId !== issued.accessKeyId) {
        last = `awsAccessKeyId is ${data.awsAccessKeyId}, not the newly issued ${issued.accessKeyId}`;
        return undefined;
      }
      assert.deepEqual(data, {
        awsAccessKeyId: issued.accessKeyId,
        awsSecretAccessKey: issued.secretAccessKey,
        awsSessionToken: issued.sessionToken,
      });
      return secret;
    },
    REPAIR_TIMEOUT_MS,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last state: ${last}`);
  });
  await waitForReady(s.ns, "app", "True");
  return repaired;
}

function lastSeq(proxy: AwsProxy): number {
  return proxy.records().at(-1)?.seq ?? 0;
}

test("a deleted Secret is created again with fresh credentials", async (t) => {
  const s = await readyResource(t);
  const w = await world();
  const since = lastSeq(s.proxy);
  await w.core.deleteNamespacedSecret({ namespace: s.ns, name: "creds" });

  const repaired = await waitForRepair(s, since, "deletion");
  assert.notEqual(repaired.metadata?.uid, s.secret.metadata?.uid, "a new Secret object");
});

test("a Secret whose key was changed by hand gets the operator's credentials back", async (t) => {
  const s = await readyResource(t);
  const w = await world();
  const since = lastSeq(s.proxy);
  await w.core.patchNamespacedSecret({
    namespace: s.ns,
    name: "creds",
    body: [
      { op: "replace", path: "/data/awsAccessKeyId", value: Buffer.from("AKIATAMPERED").toString("base64") },
    ],
  });

  const repaired = await waitForRepair(s, since, "a key was changed");
  assert.notEqual(decoded(repaired).awsAccessKeyId, "AKIATAMPERED");
  assert.equal(repaired.metadata?.uid, s.secret.metadata?.uid, "the same Secret object, rewritten");
});

test("a Secret with a key removed gets all its keys back", async (t) => {
  const s = await readyResource(t);
  const w = await world();
  const since = lastSeq(s.proxy);
  await w.core.patchNamespacedSecret({
    namespace: s.ns,
    name: "creds",
    body: [{ op: "remove", path: "/data/awsSessionToken" }],
  });

  await waitForRepair(s, since, "a key was removed");
});

test("a Secret whose managed-by label was removed is noticed although it left the label-filtered cache", async (t) => {
  const s = await readyResource(t);
  const w = await world();
  const since = lastSeq(s.proxy);
  await w.core.patchNamespacedSecret({
    namespace: s.ns,
    name: "creds",
    body: [{ op: "remove", path: `/metadata/labels/${MANAGED_BY.replace("/", "~1")}` }],
  });

  const repaired = await waitForRepair(s, since, "the label was removed");
  assert.equal(repaired.metadata?.uid, s.secret.metadata?.uid, "the same Secret object, relabelled");
});

test("a Secret whose ownerReferences were removed is owned again", async (t) => {
  const s = await readyResource(t);
  const w = await world();
  const since = lastSeq(s.proxy);
  await w.core.patchNamespacedSecret({
    namespace: s.ns,
    name: "creds",
    body: [{ op: "remove", path: "/metadata/ownerReferences" }],
  });

  const repaired = await waitForRepair(s, since, "the ownerReferences were removed");
  assert.equal(repaired.metadata?.uid, s.secret.metadata?.uid, "the same Secret object");
});

test("a Secret stripped of both its label and its ownerReferences in one edit is still recognised and repaired", async (t) => {
  const s = await readyResource(t);
  const w = await world();
  const since = lastSeq(s.proxy);
  await w.core.patchNamespacedSecret({
    namespace: s.ns,
    name: "creds",
    body: [
      { op: "remove", path: `/metadata/labels/${MANAGED_BY.replace("/", "~1")}` },
      { op: "remove", path: "/metadata/ownerReferences" },
    ],
  });

  const repaired = await waitForRepair(s, since, "label and ownerReferences were removed");
  assert.equal(repaired.metadata?.uid, s.secret.metadata?.uid, "the same Secret object");
});
