// The AWS side of a spec, end to end against moto behind the AWS proxy: every AssumeRole parameter the spec can
// set reaches STS exactly as written (role ARN in any account and partition, external id, session policy, managed
// policies, session tags, transitive tags, region), the operator's own session tags, the File profile and region,
// the Secret template, the one-hour cap of role chaining, the fallback after STS rejects a duration, and
// convergence under throttling.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { awsEnv, eventually, freshNamespace, kubectl, privateProxy, world } from "./support/world.ts";
import type { ProxyRecord } from "./support/aws-proxy-client.ts";
import {
  FAST_RETRY,
  createResource,
  events,
  getResource,
  secretData,
  startOperator,
  waitForReady,
} from "./support/operator.ts";
import type { EventSummary, RunningOperator } from "./support/operator.ts";
import { roleSessionName } from "../src/domain/naming.ts";

const POD_IDENTITY_TAG_KEYS = [
  "kubernetes-namespace",
  "kubernetes-service-account",
  "eks-cluster-arn",
  "eks-cluster-name",
  "kubernetes-pod-name",
  "kubernetes-pod-uid",
];

/** The Events of one reason, once there is at least one. */
function eventsOf(namespace: string, reason: string): Promise<EventSummary[]> {
  return eventually(`a ${reason} event in ${namespace}`, async () => {
    const found = (await events(namespace)).filter((e) => e.reason === reason);
    return found.length > 0 ? found : undefined;
  });
}

/** AssumeRole calls the proxy saw for one resource (by its session name). */
function assumeRoles(proxy: { records(f: { action: string }): ProxyRecord[] }, ns: string, name: string) {
  const session = roleSessionName(ns, name);
  return proxy.records({ action: "AssumeRole" }).filter((r) => r.params.RoleSessionName === session);
}

/** The one successful AssumeRole of a resource. */
function onlyAssumeRole(proxy: { records(f: { action: string }): ProxyRecord[] }, ns: string, name: string) {
  const calls = assumeRoles(proxy, ns, name);
  assert.equal(calls.length, 1, `one AssumeRole for ${name}: ${JSON.stringify(calls.map((c) => c.params))}`);
  assert.equal(calls[0]!.status, 200, "it succeeded");
  return calls[0]!;
}

/** Session tags of a recorded AssumeRole (query protocol: Tags.member.N.Key / .Value). */
function tagsOf(record: ProxyRecord): Record<string, string> {
  const tags: Record<string, string> = {};
  for (let i = 1; record.params[`Tags.member.${i}.Key`] !== undefined; i++) {
    tags[String(record.params[`Tags.member.${i}.Key`])] = String(record.params[`Tags.member.${i}.Value`]);
  }
  return tags;
}

/** Reconciles the operator has finished so far (from its /metrics). */
async function reconciles(op: RunningOperator): Promise<number> {
  const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^aws_assume_role_reconcile_duration_seconds_count\{[^}]*\} (\d+)$/gm)) {
    total += Number(m[1]);
  }
  return total;
}

/** Makes the operator look at a resource again without changing its spec, and waits until it has. */
async function reconcileAgain(op: RunningOperator, ns: string, name: string): Promise<void> {
  const before = await reconciles(op);
  await kubectl([
    "annotate",
    "--overwrite",
    "awsassumeroles.pincette.net",
    name,
    "-n",
    ns,
    `touched=${before}`,
  ]);
  await eventually(`a reconcile of ${ns}/${name} after touching it`, async () =>
    (await reconciles(op)) > before ? true : undefined,
  );
}

function readyOf(r: Awaited<ReturnType<typeof getResource>>) {
  return r.status?.conditions?.find((c) => c.type === "Ready");
}

test("a roleArn in another account or partition is assumed exactly as written and reported in status", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  const arns = {
    "other-account": "arn:aws:iam::210987654321:role/x",
    china: "arn:aws-cn:iam::123456789012:role/team/app",
  };
  for (const [name, roleArn] of Object.entries(arns)) {
    await createResource(ns, name, { roleArn, secretName: `${name}-aws`, secretType: "Map" });
  }
  for (const [name, roleArn] of Object.entries(arns)) {
    const ready = await waitForReady(ns, name);
    assert.equal(onlyAssumeRole(proxy, ns, name).params.RoleArn, roleArn);
    assert.equal(ready.status?.roleArn, roleArn);
  }
});

test("externalId, sessionPolicy, policyArns, sessionTags and transitiveTagKeys reach AssumeRole exactly", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  const sessionPolicy = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::bucket/*" }],
  });
  const policyArns = [
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "arn:aws:iam::123456789012:policy/team/limits",
  ];
  const sessionTags = { team: "payments", "cost-center": "42", "Project Name": "a b" };
  await createResource(ns, "app", {
    roleName: "my-role",
    secretName: "app-aws",
    secretType: "Map",
    externalId: "ext-id:1234/abc",
    sessionPolicy,
    policyArns,
    sessionTags,
    transitiveTagKeys: ["team", "Project Name"],
  });
  await waitForReady(ns, "app");

  const { params } = onlyAssumeRole(proxy, ns, "app");
  assert.equal(params.RoleArn, "arn:aws:iam::123456789012:role/my-role");
  assert.equal(params.ExternalId, "ext-id:1234/abc");
  assert.equal(params.Policy, sessionPolicy);
  assert.equal(params["PolicyArns.member.1.arn"], policyArns[0]);
  assert.equal(params["PolicyArns.member.2.arn"], policyArns[1]);
  assert.equal(params["PolicyArns.member.3.arn"], undefined, "no more managed policies than the spec names");
  assert.deepEqual(
    tagsOf({ params } as ProxyRecord),
    sessionTags,
    "exactly the spec's tags (no operator tags)",
  );
  assert.equal(params["TransitiveTagKeys.member.1"], "team");
  assert.equal(params["TransitiveTagKeys.member.2"], "Project Name");
  assert.equal(params["TransitiveTagKeys.member.3"], undefined);
});

test("a plain spec sends none of the optional AssumeRole parameters", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "app", { roleName: "my-role", secretName: "app-aws", secretType: "Map" });
  await waitForReady(ns, "app");
  const keys = Object.keys(onlyAssumeRole(proxy, ns, "app").params).sort();
  assert.deepEqual(keys, ["Action", "DurationSeconds", "RoleArn", "RoleSessionName", "Version"]);
});

test("--session-tags --cluster-name tags each session with its namespace, name and cluster, and no Pod Identity key", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    args: ["--session-tags", "--cluster-name", "demo"],
  });
  await createResource(ns, "app", {
    roleName: "my-role",
    secretName: "app-aws",
    secretType: "Map",
    sessionTags: { team: "payments" },
  });
  await waitForReady(ns, "app");

  const tags = tagsOf(onlyAssumeRole(proxy, ns, "app"));
  assert.deepEqual(tags, {
    team: "payments",
    "aws-assume-role-namespace": ns,
    "aws-assume-role-name": "app",
    "aws-assume-role-cluster": "demo",
  });
  for (const key of POD_IDENTITY_TAG_KEYS) {
    assert.ok(!Object.keys(tags).some((k) => k.toLowerCase() === key), `no ${key} tag`);
  }
});

test("a user sessionTag that repeats an operator tag key in any case is InvalidSpec naming the key, with no AssumeRole", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    args: ["--session-tags", "--cluster-name", "demo", ...FAST_RETRY],
  });
  const keys = { lower: "aws-assume-role-namespace", mixed: "AWS-Assume-Role-Namespace" };
  for (const [name, key] of Object.entries(keys)) {
    await createResource(ns, name, {
      roleName: "my-role",
      secretName: `${name}-aws`,
      secretType: "Map",
      sessionTags: { [key]: "prod" },
    });
  }
  // A valid resource in the same namespace, as a witness that the operator does call AWS.
  await createResource(ns, "witness", { roleName: "my-role", secretName: "witness-aws", secretType: "Map" });
  await waitForReady(ns, "witness");
  for (const [name, key] of Object.entries(keys)) {
    const failed = await waitForReady(ns, name, "False", "InvalidSpec");
    assert.ok(
      readyOf(failed)!.message.includes(key),
      `the message names ${key}: ${readyOf(failed)!.message}`,
    );
    assert.deepEqual(assumeRoles(proxy, ns, name), [], `no AssumeRole for ${name}`);
    assert.equal(await secretData(ns, `${name}-aws`), undefined, "no Secret");
  }
});

test("without --session-tags the operator's tag keys stay reserved, so a tenant cannot forge them", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "forged", {
    roleName: "my-role",
    secretName: "forged-aws",
    secretType: "Map",
    sessionTags: { "aws-assume-role-namespace": "team-a" },
  });
  const failed = await waitForReady(ns, "forged", "False", "InvalidSpec");
  assert.ok(readyOf(failed)!.message.includes("aws-assume-role-namespace"), readyOf(failed)!.message);
  assert.deepEqual(assumeRoles(proxy, ns, "forged"), []);
});

test("a sessionPolicy that starts with { but is not JSON is InvalidSpec, with no AssumeRole", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "app", {
    roleName: "my-role",
    secretName: "app-aws",
    secretType: "Map",
    sessionPolicy: '{ "Version": "2012-10-17", Statement: [] }',
  });
  const failed = await waitForReady(ns, "app", "False", "InvalidSpec");
  assert.match(readyOf(failed)!.message, /sessionPolicy/);
  const [warning] = await eventsOf(ns, "InvalidSpec");
  assert.equal(warning!.type, "Warning");
  assert.deepEqual(assumeRoles(proxy, ns, "app"), []);
});

test("spec.region picks the STS region, and a File Secret carries the profile and a region line", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "app", {
    roleName: "my-role",
    secretName: "app-aws",
    secretType: "File",
    profile: "dev",
    region: "eu-west-1",
  });
  await createResource(ns, "plain", { roleName: "my-role", secretName: "plain-aws", secretType: "File" });
  await waitForReady(ns, "app");
  await waitForReady(ns, "plain");

  const call = onlyAssumeRole(proxy, ns, "app");
  assert.equal(call.region, "eu-west-1", "AssumeRole was signed for the spec's region");
  const w = await world();
  assert.equal(onlyAssumeRole(proxy, ns, "plain").region, w.env.AWS_REGION, "without region: the operator's");
  const { credentials } = (await secretData(ns, "app-aws"))!;
  assert.equal(
    credentials,
    `[dev]\naws_access_key_id=${call.issued!.accessKeyId}\naws_secret_access_key=${call.issued!.secretAccessKey}\n` +
      `aws_session_token=${call.issued!.sessionToken}\nregion=eu-west-1\n`,
  );
  assert.match((await secretData(ns, "plain-aws"))!.credentials!, /^\[default\]\n(?![\s\S]*region=)/);
});

test("secretTemplate labels and annotations land on the Secret, and the managed-by label stays the operator's", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "app", {
    roleName: "my-role",
    secretName: "app-aws",
    secretType: "Map",
    secretTemplate: {
      metadata: {
        labels: { team: "payments", "app.kubernetes.io/name": "app" },
        annotations: {
          "reloader.stakater.com/match": "true",
          // The operator's own annotation must win over the template's.
          "aws-assume-role.pincette.net/role-arn": "arn:aws:iam::999999999999:role/forged",
        },
      },
    },
  });
  await waitForReady(ns, "app");
  const w = await world();
  const secret = await w.core.readNamespacedSecret({ namespace: ns, name: "app-aws" });
  const labels = secret.metadata?.labels ?? {};
  const annotations = secret.metadata?.annotations ?? {};
  assert.equal(labels.team, "payments");
  assert.equal(labels["app.kubernetes.io/name"], "app");
  assert.equal(labels["app.kubernetes.io/managed-by"], "aws-assume-role-operator");
  assert.equal(annotations["reloader.stakater.com/match"], "true");
  assert.equal(
    annotations["aws-assume-role.pincette.net/role-arn"],
    "arn:aws:iam::123456789012:role/my-role",
  );
});

test("under role chaining a 7200 s request is clamped to one hour, with exactly one DurationClamped warning", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  // The operator's own identity: a session of a role, as under EKS Pod Identity or IRSA.
  const env = await awsEnv(proxy.url);
  const sts = new STSClient({
    endpoint: proxy.url,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  t.after(() => sts.destroy());
  const own = await sts.send(
    new AssumeRoleCommand({
      RoleArn: "arn:aws:iam::123456789012:role/operator",
      RoleSessionName: "operator",
    }),
  );
  const c = own.Credentials!;
  const operator = await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    env: {
      AWS_ACCESS_KEY_ID: c.AccessKeyId!,
      AWS_SECRET_ACCESS_KEY: c.SecretAccessKey!,
      AWS_SESSION_TOKEN: c.SessionToken!,
    },
  });
  await createResource(ns, "app", {
    roleName: "my-role",
    secretName: "app-aws",
    secretType: "Map",
    durationSeconds: 7200,
  });
  const ready = await waitForReady(ns, "app");

  const [identity] = proxy.records({ action: "GetCallerIdentity" });
  assert.equal(identity?.accessKeyId, c.AccessKeyId, "the operator ran as the assumed role");
  assert.equal(identity?.callerSession, "operator", "the proxy knows it as the session assumed above");
  const call = onlyAssumeRole(proxy, ns, "app");
  assert.equal(call.accessKeyId, c.AccessKeyId);
  assert.equal(call.params.DurationSeconds, "3600");
  assert.equal(ready.status?.effectiveDurationSeconds, 3600);

  // A forced refresh asks for the clamped duration again without a second warning.
  await kubectl([
    "annotate",
    "awsassumeroles.pincette.net",
    "app",
    "-n",
    ns,
    "aws-assume-role.pincette.net/force-refresh=1",
  ]);
  await eventually("a second AssumeRole", () =>
    assumeRoles(proxy, ns, "app").length === 2 ? true : undefined,
  );
  await waitForReady(ns, "app");
  assert.equal(assumeRoles(proxy, ns, "app")[1]!.params.DurationSeconds, "3600");
  await eventually("the Refreshed event", async () =>
    (await events(ns)).some((e) => e.reason === "Refreshed") ? true : undefined,
  );
  const clamped = (await events(ns)).filter((e) => e.reason === "DurationClamped");
  assert.equal(clamped.length, 1, "one DurationClamped event");
  assert.equal(clamped[0]!.count, 1, "emitted once, not once per reconcile");
  assert.equal(clamped[0]!.type, "Warning");
  assert.match(clamped[0]!.message, /3600/);
  assert.ok(!operator.output().includes(c.SecretAccessKey!), "the operator never prints its own secret key");
});

test("after STS rejects 7200 s as above the role's maximum, the operator retries with one hour and is Ready", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  const awsMessage = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.";
  proxy.setFaults([
    {
      service: "sts",
      action: "AssumeRole",
      kind: "error",
      httpStatus: 400,
      code: "ValidationError",
      message: awsMessage,
      count: 1,
    },
  ]);
  const operator = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, endpoints: true });
  await createResource(ns, "app", {
    roleName: "my-role",
    secretName: "app-aws",
    secretType: "Map",
    durationSeconds: 7200,
  });
  await waitForReady(ns, "app", "True", "CredentialsReady");
  // Later reconciles that keep the Secret must keep the explanation too.
  await reconcileAgain(operator, ns, "app");
  const ready = await getResource(ns, "app");

  const calls = assumeRoles(proxy, ns, "app");
  assert.deepEqual(
    calls.map((r) => [r.params.DurationSeconds, r.status]),
    [
      ["7200", 400],
      ["3600", 200],
    ],
  );
  assert.equal(ready.status?.effectiveDurationSeconds, 3600);
  assert.equal(readyOf(ready)?.status, "True");
  assert.match(readyOf(ready)!.message, /3600/, "the Ready message says the sessions are shorter");
  const [rejected] = await eventsOf(ns, "DurationRejected");
  assert.equal(rejected!.type, "Warning");
  assert.ok(
    rejected!.message.includes(awsMessage),
    `the event carries the AWS message: ${rejected!.message}`,
  );
  const data = (await secretData(ns, "app-aws"))!;
  assert.equal(data.awsAccessKeyId, calls[1]!.issued?.accessKeyId);
});

test("with half of all AWS calls throttled, 20 resources still all become Ready with a bounded number of calls", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  proxy.setFaults([{ kind: "throttle", probability: 0.5 }]);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  const names = Array.from({ length: 20 }, (_, i) => `app-${i}`);
  await Promise.all(
    names.map((name) =>
      createResource(ns, name, { roleName: "my-role", secretName: `${name}-aws`, secretType: "Map" }),
    ),
  );
  for (const name of names) await waitForReady(ns, name, "True", "CredentialsReady", 60_000);

  const calls = proxy.records({ action: "AssumeRole" });
  assert.ok(
    calls.some((r) => r.fault === "throttle"),
    "some calls were throttled (the fault was active)",
  );
  assert.ok(
    calls.length < 20 * 6,
    `at most ${20 * 6 - 1} AssumeRole calls for 20 resources, saw ${calls.length}`,
  );
  for (const name of names) {
    const data = (await secretData(ns, `${name}-aws`))!;
    const last = assumeRoles(proxy, ns, name).filter((r) => r.status === 200);
    assert.equal(last.length, 1, `${name}: one successful AssumeRole`);
    assert.equal(
      data.awsAccessKeyId,
      last[0]!.issued?.accessKeyId,
      `${name}: the Secret holds its credentials`,
    );
  }
});
