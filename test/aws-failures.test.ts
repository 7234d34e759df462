// AWS failure handling against the real test world: each kind of failure (denied, throttled, unreachable) shows
// as its Ready reason, an existing Secret is never touched by a failed refresh, the operator recovers by itself
// once AWS does, and no credential ever reaches status, events or logs.
import { FORCE_REFRESH_ANNOTATION } from "../src/domain/plan.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, freshNamespace, kubectl, privateProxy } from "./support/world.ts";
import type { FaultRule } from "./support/aws-proxy-client.ts";
import {
  FAST_RETRY,
  createResource,
  events,
  forceRefresh,
  getResource,
  mapSpec,
  readSecret,
  secretData,
  startOperator,
  waitForReady,
} from "./support/operator.ts";

const DENIED_MESSAGE =
  "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: sts:AssumeRole on resource: " +
  "arn:aws:iam::123456789012:role/my-role";
const ACCESS_DENIED: FaultRule = {
  service: "sts",
  action: "AssumeRole",
  kind: "error",
  httpStatus: 403,
  code: "AccessDenied",
  message: DENIED_MESSAGE,
};

function readyOf(r: Awaited<ReturnType<typeof getResource>>) {
  return r.status?.conditions?.find((c) => c.type === "Ready");
}

test("AccessDenied on a refresh keeps the Secret byte for byte, reports the AWS message, and recovers by itself", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "app", mapSpec("app-aws"));
  const ready = await waitForReady(ns, "app");
  const before = (await readSecret(ns, "app-aws"))!;

  proxy.setFaults([ACCESS_DENIED]);
  await forceRefresh(ns, "app", "1");
  const denied = await waitForReady(ns, "app", "False", "AccessDenied");
  const condition = readyOf(denied)!;
  assert.ok(
    condition.message.includes(DENIED_MESSAGE),
    `the Ready message carries the AWS message: ${condition.message}`,
  );
  assert.match(condition.message, /existing Secret is kept/);
  assert.equal(
    denied.status?.expirationTime,
    ready.status?.expirationTime,
    "status still shows the valid Secret",
  );

  // It keeps trying (permanent-error retry), and each try fails without touching the Secret.
  await eventually(
    "a retried AssumeRole",
    () =>
      proxy.records({ action: "AssumeRole" }).filter((r) => r.status === 403).length >= 2 ? true : undefined,
    15_000,
  );
  const during = (await readSecret(ns, "app-aws"))!;
  assert.deepEqual(during.data, before.data, "the Secret's data is unchanged");
  assert.equal(
    during.metadata?.resourceVersion,
    before.metadata?.resourceVersion,
    "the Secret was not written",
  );

  const warnings = await eventually("the AccessDenied Warning event", async () => {
    const found = (await events(ns)).filter((e) => e.reason === "AccessDenied");
    return found.length > 0 ? found : undefined;
  });
  assert.equal(warnings.length, 1, "one Warning event, not one per retry");
  assert.equal(warnings[0]!.type, "Warning");
  assert.equal(warnings[0]!.name, "app");
  assert.ok(warnings[0]!.message.includes(DENIED_MESSAGE), `event message: ${warnings[0]!.message}`);

  proxy.clearFaults();
  const recovered = await waitForReady(ns, "app", "True", "CredentialsReady", 15_000);
  const [issued] = proxy
    .records({ action: "AssumeRole" })
    .filter((r) => r.status === 200 && r.issued)
    .slice(-1);
  const data = (await secretData(ns, "app-aws"))!;
  assert.equal(data.awsAccessKeyId, issued?.issued?.accessKeyId, "the forced refresh went through");
  assert.notEqual(Buffer.from(before.data!.awsAccessKeyId!, "base64").toString("utf8"), data.awsAccessKeyId);
  assert.ok(Date.parse(recovered.status!.lastRefreshTime!) > Date.parse(ready.status!.lastRefreshTime!));
});

test("a new resource while STS throttles every call is Throttled with no Secret, and becomes Ready when it stops", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  proxy.setFaults([{ service: "sts", action: "AssumeRole", kind: "throttle" }]);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "app", mapSpec("app-aws"));

  const throttled = await waitForReady(ns, "app", "False", "Throttled");
  assert.match(readyOf(throttled)!.message, /Throttling/);
  await eventually(
    "retries with backoff",
    () => (proxy.records({ action: "AssumeRole" }).length >= 3 ? true : undefined),
    15_000,
  );
  assert.ok(
    proxy.records({ action: "AssumeRole" }).every((r) => r.fault === "throttle"),
    "every AssumeRole so far was throttled",
  );
  assert.equal(await readSecret(ns, "app-aws"), undefined, "no Secret without credentials");
  const warning = await eventually("a Throttled Warning event", async () =>
    (await events(ns)).find((e) => e.reason === "Throttled"),
  );
  assert.equal(warning.type, "Warning");

  proxy.clearFaults();
  await waitForReady(ns, "app", "True", "CredentialsReady", 15_000);
  const data = (await secretData(ns, "app-aws"))!;
  const [issued] = proxy.records({ action: "AssumeRole" }).filter((r) => r.issued);
  assert.equal(data.awsAccessKeyId, issued?.issued?.accessKeyId);
});

test("with AWS unreachable a resource is AWSUnavailable, an existing Secret is kept, and both recover", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  const drop: FaultRule[] = [{ kind: "drop" }];
  proxy.setFaults(drop);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });

  // A fresh operator cannot even learn its own identity.
  await createResource(ns, "first", mapSpec("first-aws"));
  const unavailable = await waitForReady(ns, "first", "False", "AWSUnavailable");
  assert.ok(readyOf(unavailable)!.message.length > 0);
  assert.equal(await readSecret(ns, "first-aws"), undefined);
  assert.ok(proxy.records().every((r) => r.fault === "drop"));
  proxy.clearFaults();
  await waitForReady(ns, "first", "True", "CredentialsReady", 15_000);
  const before = (await readSecret(ns, "first-aws"))!;

  // AWS goes away again: a forced refresh fails, the Secret stays, and a new resource waits.
  proxy.setFaults(drop);
  const sinceSeq = Math.max(...proxy.records().map((r) => r.seq));
  await forceRefresh(ns, "first", "1");
  await createResource(ns, "second", mapSpec("second-aws"));
  await waitForReady(ns, "first", "False", "AWSUnavailable");
  await waitForReady(ns, "second", "False", "AWSUnavailable");
  const during = (await readSecret(ns, "first-aws"))!;
  assert.deepEqual(during.data, before.data);
  assert.equal(during.metadata?.resourceVersion, before.metadata?.resourceVersion);
  assert.equal(await readSecret(ns, "second-aws"), undefined);
  assert.ok(
    proxy.records({ sinceSeq }).every((r) => r.fault === "drop"),
    "nothing reached AWS while it was unreachable",
  );

  proxy.clearFaults();
  await waitForReady(ns, "first", "True", "CredentialsReady", 15_000);
  await waitForReady(ns, "second", "True", "CredentialsReady", 15_000);
  assert.notDeepEqual((await readSecret(ns, "first-aws"))!.data, before.data, "the forced refresh happened");
  assert.ok((await secretData(ns, "second-aws"))?.awsAccessKeyId);
});

test("status, events and logs never contain the credentials AWS issued, not even when an error message echoes them", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  const operator = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "map", mapSpec("map-aws"));
  await createResource(ns, "file", { roleName: "my-role", secretName: "file-aws", secretType: "File" });
  await createResource(ns, "ecr", {
    roleName: "my-ecr-role",
    secretName: "ecr-aws",
    secretType: "EcrDockerConfigJson",
    ecrRepositoryUrl: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-repo",
  });
  for (const name of ["map", "file", "ecr"]) await waitForReady(ns, name);

  // An AWS error that quotes credentials back (as some do for bad keys), on a forced refresh.
  const [echoed] = proxy.records({ action: "AssumeRole" }).filter((r) => r.issued);
  const { accessKeyId, secretAccessKey, sessionToken } = echoed!.issued!;
  proxy.setFaults([
    {
      service: "sts",
      action: "AssumeRole",
      kind: "error",
      httpStatus: 403,
      code: "InvalidClientTokenId",
      message: `The security token included in the request is invalid: ${accessKeyId} ${secretAccessKey} ${sessionToken}`,
    },
  ]);
  await forceRefresh(ns, "map", "1");
  await waitForReady(ns, "map", "False", "AccessDenied");
  const failingStatuses = await kubectl(["get", "awsassumeroles.pincette.net", "-n", ns, "-o", "json"]);
  assert.match(failingStatuses, /security token included in the request is invalid/);
  await eventually("the Warning event for the invalid token", async () =>
    (await events(ns)).find((e) => e.reason === "AccessDenied"),
  );
  proxy.clearFaults();
  await waitForReady(ns, "map", "True", "CredentialsReady", 15_000);
  await forceRefresh(ns, "file", "1");
  await eventually("the forced refresh of file", async () =>
    (await readSecret(ns, "file-aws"))?.metadata?.annotations?.[FORCE_REFRESH_ANNOTATION] === "1"
      ? true
      : undefined,
  );
  // map's denied forced refresh recovers (Recovered), file's is a plain forced one (Refreshed).
  await eventually("Recovered and Refreshed events", async () => {
    const reasons = (await events(ns)).map((e) => e.reason);
    return reasons.includes("Recovered") && reasons.includes("Refreshed") ? true : undefined;
  });

  const secrets: string[] = [];
  for (const r of proxy.records()) {
    const i = r.issued;
    if (!i) continue;
    for (const value of [i.accessKeyId, i.secretAccessKey, i.sessionToken, i.authorizationToken]) {
      if (value) secrets.push(value);
    }
    if (i.authorizationToken) {
      secrets.push(Buffer.from(i.authorizationToken, "base64").toString("utf8").replace(/^AWS:/, ""));
    }
  }
  assert.ok(secrets.length >= 4 * 3, `collected ${secrets.length} issued credential values`);

  const statuses = await kubectl(["get", "awsassumeroles.pincette.net", "-n", ns, "-o", "json"]);
  const eventList = await kubectl(["get", "events", "-n", ns, "-o", "json"]);
  assert.match(eventList, /security token included in the request is invalid/);
  const places = {
    "status while failing": failingStatuses,
    "status now": statuses,
    events: eventList,
    "operator logs": operator.output(),
  };
  for (const [where, text] of Object.entries(places)) {
    for (const value of secrets) {
      assert.ok(!text.includes(value), `${where}: contains an issued credential (${value.slice(0, 8)}…)`);
    }
  }
});
