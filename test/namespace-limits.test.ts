// Namespace limits (--namespace-permissions) against the real test world: a namespace may only assume the roles its
// annotation aws-assume-role.pincette.net/permitted-roles names (role names or ARN globs); anything else is
// RoleNotPermitted without any AssumeRole, and withdrawing the permission takes the credentials away at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { eventually, freshNamespace, kubectl, privateProxy, world } from "./support/world.ts";
import type { ProxyRecord } from "./support/aws-proxy-client.ts";
import { createResource, events, secretData, startOperator, waitForReady } from "./support/operator.ts";
import { roleSessionName } from "../src/domain/naming.ts";

const PERMITTED_ROLES = "aws-assume-role.pincette.net/permitted-roles";
const ARGS = ["--namespace-permissions", "--backoff-base-ms", "200", "--backoff-max-ms", "2000"];

async function annotate(namespace: string, value: string | undefined): Promise<void> {
  const annotation = value === undefined ? `${PERMITTED_ROLES}-` : `${PERMITTED_ROLES}=${value}`;
  await kubectl(["annotate", "--overwrite", "namespace", namespace, annotation]);
}

function mapSpec(name: string, role: { roleName: string } | { roleArn: string }): Record<string, unknown> {
  return { ...role, secretName: `${name}-aws`, secretType: "Map" };
}

function assumeRoles(proxy: { records(f: { action: string }): ProxyRecord[] }, ns: string, name: string) {
  const session = roleSessionName(ns, name);
  return proxy.records({ action: "AssumeRole" }).filter((r) => r.params.RoleSessionName === session);
}

function readyMessage(r: Awaited<ReturnType<typeof waitForReady>>): string {
  return r.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "";
}

test("a namespace may assume the roles its annotation names or matches, and no other", async (t) => {
  const ns = await freshNamespace(t);
  await annotate(ns, "reader, arn:aws:iam::123456789012:role/app-*");
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: ARGS });

  await createResource(ns, "by-name", mapSpec("by-name", { roleName: "reader" }));
  await createResource(ns, "by-glob", mapSpec("by-glob", { roleName: "app-payments" }));
  await createResource(ns, "by-arn", mapSpec("by-arn", { roleArn: "arn:aws:iam::123456789012:role/app-x" }));
  await createResource(ns, "admin", mapSpec("admin", { roleName: "admin" }));
  // The role-name entry means the operator's own account: the same name elsewhere is not permitted.
  await createResource(
    ns,
    "elsewhere",
    mapSpec("elsewhere", { roleArn: "arn:aws:iam::210987654321:role/reader" }),
  );

  for (const name of ["by-name", "by-glob", "by-arn"]) {
    await waitForReady(ns, name);
    assert.equal(assumeRoles(proxy, ns, name).length, 1, `${name} assumed its role`);
    assert.ok(await secretData(ns, `${name}-aws`), `${name} has its Secret`);
  }
  for (const [name, arn] of [
    ["admin", "arn:aws:iam::123456789012:role/admin"],
    ["elsewhere", "arn:aws:iam::210987654321:role/reader"],
  ] as const) {
    const denied = await waitForReady(ns, name, "False", "RoleNotPermitted");
    const message = readyMessage(denied);
    assert.ok(message.includes(arn), `the message names the role: ${message}`);
    assert.ok(message.includes(PERMITTED_ROLES), `the message names the annotation: ${message}`);
    assert.equal(denied.status?.roleArn, arn);
    assert.deepEqual(assumeRoles(proxy, ns, name), [], `no AssumeRole for ${name}`);
    assert.equal(await secretData(ns, `${name}-aws`), undefined, `no Secret for ${name}`);
    const warning = await eventually(`the RoleNotPermitted event of ${name}`, async () =>
      (await events(ns)).find((e) => e.reason === "RoleNotPermitted" && e.name === name),
    );
    assert.equal(warning.type, "Warning");
    assert.ok(warning.message.includes(arn), warning.message);
  }
});

test("a namespace without the annotation may assume no role at all", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: ARGS });
  await createResource(ns, "app", mapSpec("app", { roleName: "my-role" }));
  await waitForReady(ns, "app", "False", "RoleNotPermitted");
  assert.deepEqual(proxy.records({ action: "AssumeRole" }), [], "no AssumeRole at all");
  assert.equal(await secretData(ns, "app-aws"), undefined);
});

test("withdrawing the annotation deletes the Secret and reports RoleNotPermitted; adding it back recovers", async (t) => {
  const ns = await freshNamespace(t);
  await annotate(ns, "my-role");
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: ARGS });
  await createResource(ns, "app", mapSpec("app", { roleName: "my-role" }));
  await waitForReady(ns, "app");
  const first = (await secretData(ns, "app-aws"))!;
  assert.ok(first.awsAccessKeyId, "the Secret holds credentials");

  await annotate(ns, undefined);
  const denied = await waitForReady(ns, "app", "False", "RoleNotPermitted");
  assert.match(readyMessage(denied), /deleted/);
  await eventually("the Secret to be deleted", async () =>
    (await secretData(ns, "app-aws")) === undefined ? true : undefined,
  );
  const calls = assumeRoles(proxy, ns, "app").length;

  await annotate(ns, "my-role");
  await waitForReady(ns, "app", "True");
  const back = await eventually("the Secret to be back", () => secretData(ns, "app-aws"));
  assert.equal(assumeRoles(proxy, ns, "app").length, calls + 1, "one new AssumeRole");
  assert.notEqual(back.awsAccessKeyId, first.awsAccessKeyId, "fresh credentials, not the old ones");
  assert.equal(back.awsAccessKeyId, assumeRoles(proxy, ns, "app").at(-1)!.issued?.accessKeyId);
});

test("a resource created right after its annotated namespace is permitted", async (t) => {
  // The operator starts before the namespace exists, so the namespace first shows up as a watch event.
  const ns = `t-new-namespace-${randomBytes(3).toString("hex")}`;
  const w = await world();
  t.after(async () => {
    await w.core.deleteNamespace({ name: ns }).catch(() => undefined);
  });
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: ARGS });
  await kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: {
            name: ns,
            labels: { "aar-test": "true" },
            annotations: { [PERMITTED_ROLES]: "my-role" },
          },
        },
        {
          apiVersion: "pincette.net/v1",
          kind: "AWSAssumeRole",
          metadata: { name: "app", namespace: ns },
          spec: mapSpec("app", { roleName: "my-role" }),
        },
      ],
    }),
  );
  await waitForReady(ns, "app");
  assert.ok(await secretData(ns, "app-aws"));
});
