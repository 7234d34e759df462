// No credential ever leaves the Secrets: an operator run through a varied scenario (Map, File and ECR Secrets, a
// forced refresh, AccessDenied, throttling, an invalid spec) prints, records and exposes none of the keys, tokens or
// ECR passwords that AWS issued to it — not in its debug logs, not in Events, not in status, not in /metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, freshNamespace, kubectl, privateProxy } from "./support/world.ts";
import { ACCESS_DENIED } from "./support/aws-proxy-client.ts";
import type { IssuedCredentials } from "./support/aws-proxy-client.ts";
import {
  FAST_RETRY,
  createResource,
  forceRefresh,
  secretData,
  startOperator,
  waitForReady,
} from "./support/operator.ts";
import { roleSessionName } from "../src/domain/naming.ts";

const ECR_URL = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo";

/** Every secret value AWS handed out, with the forms it could leak in (as is, base64, ECR password). */
function needles(issued: IssuedCredentials[]): Map<string, string> {
  const found = new Map<string, string>();
  const add = (what: string, value: string | undefined) => {
    if (!value) return;
    found.set(value, what);
    found.set(Buffer.from(value, "utf8").toString("base64"), `${what} (base64)`);
  };
  for (const c of issued) {
    add("accessKeyId", c.accessKeyId);
    add("secretAccessKey", c.secretAccessKey);
    add("sessionToken", c.sessionToken);
    add("ECR authorizationToken", c.authorizationToken);
    if (c.authorizationToken) {
      const decoded = Buffer.from(c.authorizationToken, "base64").toString("utf8");
      add("ECR password", decoded.slice(decoded.indexOf(":") + 1));
    }
  }
  return found;
}

/** The needles that occur in `text`, described. */
function leaks(text: string, found: Map<string, string>): string[] {
  return [...found]
    .filter(([value]) => text.includes(value))
    .map(([value, what]) => `${what} ${value.slice(0, 6)}…`);
}

test("no issued key, token or ECR password appears in logs, Events, status or metrics", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  const operator = await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    endpoints: true,
    args: FAST_RETRY,
  });

  // Map, File (with profile and region) and ECR Secrets.
  await createResource(ns, "map", { roleName: "my-role", secretName: "map-aws", secretType: "Map" });
  await createResource(ns, "file", {
    roleName: "my-role",
    secretName: "file-aws",
    secretType: "File",
    profile: "dev",
    region: "eu-west-1",
    sessionTags: { team: "payments" },
  });
  await createResource(ns, "ecr", {
    roleName: "my-role",
    secretName: "ecr-pull",
    secretType: "EcrDockerConfigJson",
    ecrRepositoryUrl: ECR_URL,
  });
  for (const name of ["map", "file", "ecr"]) await waitForReady(ns, name);

  // A forced refresh.
  await forceRefresh(ns, "map", "1");
  await eventually("the forced refresh of map", () =>
    proxy
      .records({ action: "AssumeRole" })
      .filter((r) => r.params.RoleSessionName === roleSessionName(ns, "map")).length === 2
      ? true
      : undefined,
  );

  // AccessDenied on a refresh and on a new resource.
  proxy.setFaults([ACCESS_DENIED]);
  await forceRefresh(ns, "file", "1");
  await createResource(ns, "denied", { roleName: "other-role", secretName: "denied-aws", secretType: "Map" });
  await waitForReady(ns, "file", "False", "AccessDenied");
  await waitForReady(ns, "denied", "False", "AccessDenied");

  // Throttling of STS and ECR on a refresh of the ECR Secret.
  proxy.setFaults([{ kind: "throttle", count: 3 }]);
  await forceRefresh(ns, "ecr", "1");
  await eventually("a throttled call", () =>
    proxy.records().some((r) => r.fault === "throttle") ? true : undefined,
  );

  // An invalid spec.
  await createResource(ns, "invalid", {
    roleName: "my-role",
    secretName: "invalid-aws",
    secretType: "Map",
    sessionPolicy: "{ not json",
  });
  await waitForReady(ns, "invalid", "False", "InvalidSpec");

  // Everything recovers once AWS does.
  proxy.clearFaults();
  for (const name of ["map", "file", "ecr", "denied"])
    await waitForReady(ns, name, "True", "CredentialsReady", 30_000);

  // Collect everything the operator emitted.
  const eventsJson = await kubectl(["get", "events", "-n", ns, "-o", "json"]);
  const resourcesJson = await kubectl(["get", "awsassumeroles.pincette.net", "-n", ns, "-o", "json"]);
  const metricsRes = await fetch(`${operator.metricsUrl}/metrics`);
  assert.equal(metricsRes.status, 200);
  const metrics = await metricsRes.text();
  const output = operator.output();
  const collected = { output, events: eventsJson, resources: resourcesJson, metrics };

  // The collection covers the scenario: otherwise finding nothing would prove nothing.
  assert.ok(output.split("\n").length > 30, `the debug log has content (${output.split("\n").length} lines)`);
  for (const reason of ["Created", "Refreshed", "Recovered", "AccessDenied", "Throttled", "InvalidSpec"]) {
    assert.ok(eventsJson.includes(`"reason": "${reason}"`), `an Event with reason ${reason}`);
  }
  for (const name of ["map", "file", "ecr", "denied", "invalid"]) {
    assert.ok(resourcesJson.includes(`"name": "${name}"`), `the status of ${name} is collected`);
  }
  assert.match(metrics, /aws_assume_role_refreshes_total/);

  const issued = proxy.records().flatMap((r) => (r.issued ? [r.issued] : []));
  assert.ok(issued.filter((c) => c.accessKeyId).length >= 6, `STS credentials were issued: ${issued.length}`);
  assert.ok(
    issued.some((c) => c.authorizationToken),
    "an ECR token was issued",
  );
  const all = needles(issued);

  // The search finds credentials where they belong: in the Secrets.
  const inSecrets = JSON.stringify([
    await secretData(ns, "map-aws"),
    await secretData(ns, "file-aws"),
    await secretData(ns, "ecr-pull"),
  ]);
  for (const what of [
    "accessKeyId",
    "secretAccessKey",
    "sessionToken",
    "ECR authorizationToken",
    "ECR password",
  ]) {
    assert.ok(
      leaks(inSecrets, all).some((l) => l.startsWith(`${what} `)),
      `the search finds a current ${what} in the Secrets`,
    );
  }

  for (const [where, text] of Object.entries(collected)) {
    assert.deepEqual(leaks(text, all), [], `no credential in the operator's ${where}`);
  }
});
