// Spec changes: every new generation is acted on at once (the Secret follows the spec, status.observedGeneration
// follows the generation), a change of Secret type replaces the Secret, a new secretName moves it, and deleting
// the resource lets the garbage collector remove the Secret through its ownerReference.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Secret } from "@kubernetes/client-node";
import { eventually, freshNamespace, privateProxy, world } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";
import { createResource, getResource, startOperator, waitForReady } from "./support/operator.ts";
import type { AWSAssumeRole } from "../src/api/schema.ts";
import type { AwsProxy } from "../testenv/aws-proxy/proxy.ts";

const ACCOUNT = "123456789012";
const ECR_URL = `https://${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo`;
const MAP_KEYS = ["awsAccessKeyId", "awsSecretAccessKey", "awsSessionToken"];

interface Setup {
  ns: string;
  proxy: AwsProxy;
  resource: AWSAssumeRole;
}

async function readyMapResource(t: TestContext, spec: Record<string, unknown> = {}): Promise<Setup> {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "app", {
    roleName: "first-role",
    secretName: "creds",
    secretType: "Map",
    ...spec,
  });
  const resource = await waitForReady(ns, "app", "True");
  return { ns, proxy, resource };
}

async function patchSpec(ns: string, ops: { op: string; path: string; value?: unknown }[]): Promise<number> {
  const w = await world();
  const patched = (await w.custom.patchNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace: ns,
    name: "app",
    body: ops,
  })) as AWSAssumeRole;
  return patched.metadata.generation!;
}

/** The resource once the operator has acted on `generation` and reports Ready=True for it. */
async function waitForGeneration(ns: string, generation: number): Promise<AWSAssumeRole> {
  return eventually(`app Ready=True at observedGeneration ${generation}`, async () => {
    const r = await getResource(ns, "app");
    const ready = r.status?.conditions?.find((c) => c.type === "Ready");
    const current =
      r.status?.observedGeneration === generation &&
      ready?.status === "True" &&
      ready.observedGeneration === generation;
    return current ? r : undefined;
  });
}

async function readSecret(ns: string, name: string): Promise<V1Secret | undefined> {
  const w = await world();
  return w.core.readNamespacedSecret({ namespace: ns, name }).catch((err: { code?: number }) => {
    if (err.code === 404) return undefined;
    throw err;
  });
}

function text(secret: V1Secret, key: string): string {
  return Buffer.from(secret.data?.[key] ?? "", "base64").toString("utf8");
}

function lastSeq(proxy: AwsProxy): number {
  return proxy.records().at(-1)?.seq ?? 0;
}

test("a changed roleName and durationSeconds are applied at once and observedGeneration follows", async (t) => {
  const { ns, proxy, resource } = await readyMapResource(t);
  assert.equal(resource.status?.observedGeneration, 1);
  const since = lastSeq(proxy);

  const generation = await patchSpec(ns, [
    { op: "replace", path: "/spec/roleName", value: "second-role" },
    { op: "replace", path: "/spec/durationSeconds", value: 1800 },
  ]);
  assert.equal(generation, 2);
  const updated = await waitForGeneration(ns, generation);

  assert.equal(updated.status?.roleArn, `arn:aws:iam::${ACCOUNT}:role/second-role`);
  assert.equal(updated.status?.effectiveDurationSeconds, 1800);
  const calls = proxy.records({ action: "AssumeRole", sinceSeq: since });
  assert.equal(calls.length, 1, "one AssumeRole for the new generation");
  assert.equal(calls[0]!.params.RoleArn, `arn:aws:iam::${ACCOUNT}:role/second-role`);
  assert.equal(calls[0]!.params.DurationSeconds, "1800");
  const secret = (await readSecret(ns, "creds"))!;
  assert.equal(text(secret, "awsAccessKeyId"), calls[0]!.issued?.accessKeyId);
  assert.equal(
    secret.metadata?.annotations?.["aws-assume-role.pincette.net/role-arn"],
    updated.status?.roleArn,
  );
});

test("changing secretType from Map to EcrDockerConfigJson replaces the Secret with a dockerconfigjson one, and back", async (t) => {
  const { ns, resource } = await readyMapResource(t);
  const map = (await readSecret(ns, "creds"))!;
  assert.equal(map.type, "Opaque");

  const toEcr = await patchSpec(ns, [
    { op: "replace", path: "/spec/secretType", value: "EcrDockerConfigJson" },
    { op: "add", path: "/spec/ecrRepositoryUrl", value: ECR_URL },
  ]);
  await waitForGeneration(ns, toEcr);
  const ecr = (await readSecret(ns, "creds"))!;
  assert.notEqual(ecr.metadata?.uid, map.metadata?.uid, "a Secret's type is immutable: a new object");
  assert.equal(ecr.type, "kubernetes.io/dockerconfigjson");
  assert.deepEqual(Object.keys(ecr.data ?? {}), [".dockerconfigjson"]);
  const config = JSON.parse(text(ecr, ".dockerconfigjson")) as {
    auths: Record<string, { username: string }>;
  };
  assert.deepEqual(Object.keys(config.auths), [ECR_URL]);
  assert.equal(config.auths[ECR_URL]!.username, "AWS");
  assert.equal(ecr.metadata?.ownerReferences?.[0]?.uid, resource.metadata.uid);

  const toMap = await patchSpec(ns, [
    { op: "replace", path: "/spec/secretType", value: "Map" },
    { op: "remove", path: "/spec/ecrRepositoryUrl" },
  ]);
  await waitForGeneration(ns, toMap);
  const back = (await readSecret(ns, "creds"))!;
  assert.notEqual(back.metadata?.uid, ecr.metadata?.uid);
  assert.equal(back.type, "Opaque");
  assert.deepEqual(Object.keys(back.data ?? {}).sort(), MAP_KEYS);
});

test("changing secretType from Map to File rewrites the Secret's data as a credentials file", async (t) => {
  const { ns, proxy } = await readyMapResource(t);
  const map = (await readSecret(ns, "creds"))!;
  const since = lastSeq(proxy);

  await waitForGeneration(
    ns,
    await patchSpec(ns, [{ op: "replace", path: "/spec/secretType", value: "File" }]),
  );
  const file = (await readSecret(ns, "creds"))!;
  assert.equal(file.metadata?.uid, map.metadata?.uid, "the same type (Opaque): rewritten in place");
  assert.equal(file.type, "Opaque");
  assert.deepEqual(Object.keys(file.data ?? {}), ["credentials"]);
  const issued = proxy.records({ action: "AssumeRole", sinceSeq: since }).at(-1)?.issued;
  assert.ok(issued, "fresh credentials were issued for the new layout");
  assert.equal(
    text(file, "credentials"),
    `[default]\naws_access_key_id=${issued.accessKeyId}\naws_secret_access_key=${issued.secretAccessKey}\n` +
      `aws_session_token=${issued.sessionToken}\n`,
  );
});

test("changing secretName creates the new Secret and deletes the old one", async (t) => {
  const { ns, resource } = await readyMapResource(t);
  assert.ok(await readSecret(ns, "creds"));

  const updated = await waitForGeneration(
    ns,
    await patchSpec(ns, [{ op: "replace", path: "/spec/secretName", value: "renamed" }]),
  );
  assert.equal(updated.status?.secretName, "renamed");
  const renamed = (await readSecret(ns, "renamed"))!;
  assert.ok(renamed, "the new Secret exists");
  assert.equal(renamed.metadata?.ownerReferences?.[0]?.uid, resource.metadata.uid);
  assert.deepEqual(Object.keys(renamed.data ?? {}).sort(), MAP_KEYS);
  await eventually("old Secret creds deleted", async () =>
    (await readSecret(ns, "creds")) === undefined ? true : undefined,
  );
});

test("changing secretName leaves a Secret of the old name alone when it is no longer ours", async (t) => {
  const { ns } = await readyMapResource(t);
  const w = await world();
  // Someone takes the old Secret over: it is theirs now, not the operator's.
  await w.core.patchNamespacedSecret({
    namespace: ns,
    name: "creds",
    body: [
      { op: "remove", path: "/metadata/ownerReferences" },
      { op: "remove", path: "/metadata/annotations/aws-assume-role.pincette.net~1owner-uid" },
    ],
  });
  // It keeps the operator's label, so it stays in the operator's cache where stale Secrets are looked for.
  await waitForGeneration(
    ns,
    await patchSpec(ns, [{ op: "replace", path: "/spec/secretName", value: "renamed" }]),
  );
  // Stale Secrets are looked for before Ready is written, and again by the reconciles that the new Secret's and
  // the status's watch events cause; the short wait lets those run.
  await new Promise((r) => setTimeout(r, 1_000));
  assert.ok(await readSecret(ns, "creds"), "the Secret that is no longer ours is kept");
  assert.ok(await readSecret(ns, "renamed"));
});

test("deleting the resource removes its Secret through the ownerReference", async (t) => {
  const { ns } = await readyMapResource(t);
  assert.ok(await readSecret(ns, "creds"));
  const w = await world();
  await w.custom.deleteNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace: ns,
    name: "app",
  });
  await eventually(
    "Secret creds removed by the garbage collector",
    async () => ((await readSecret(ns, "creds")) === undefined ? true : undefined),
    60_000,
  );
});
