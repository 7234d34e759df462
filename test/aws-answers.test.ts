// AWS answers are checked before they steer anything: an expiry already past (moto's raw ECR token expired on
// 2015-01-01; a skewed clock can produce the same) is reported as InvalidExpiration with a Warning naming clock skew,
// and the operator backs off instead of re-issuing in a loop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshNamespace, privateProxy } from "./support/world.ts";
import type { TestContext } from "./support/world.ts";
import { createResource, events, readSecret, startOperator, waitForReady } from "./support/operator.ts";
import type { Lifetime } from "../testenv/aws-proxy/types.ts";

const ECR_URL = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo";
/** Long enough for a loop to show (the reported loop ran about ten times a second), short for the suite. */
const WATCH_MS = 8_000;

async function watchAnomaly(
  t: TestContext,
  lifetime: Lifetime,
  spec: Record<string, unknown>,
  action: "AssumeRole" | "GetAuthorizationToken",
): Promise<void> {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  proxy.setLifetime(lifetime);
  // Default backoff (1 s base, exponential) capped at the default permanent-error delay.
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "app", spec);
  const resource = await waitForReady(ns, "app", "False", "InvalidExpiration");
  const message = resource.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "";
  assert.match(message, /clock skew/);
  const secret = await readSecret(ns, "app-aws");
  assert.ok(secret, "the Secret is written with the credentials AWS returned");
  const firstVersion = Number(secret.metadata?.resourceVersion);

  const start = Date.now();
  await new Promise((r) => setTimeout(r, WATCH_MS));
  const calls = proxy.records({ action }).length;
  // Full-jitter backoff from 1 s doubling (each delay uniform in [0, 1 s · 2^n]) makes about 5 attempts in 8 s and
  // rarely more than 8 (the draws can be small); 12 would need nine draws from ever wider ranges to sum below 8 s.
  // A refresh loop makes ~80 (the reported one ran about ten times a second).
  assert.ok(
    calls <= 12,
    `${calls} ${action} calls in ${Date.now() - start} ms: the operator loops instead of backing off`,
  );
  const after = await readSecret(ns, "app-aws");
  assert.ok(after && Number(after.metadata?.resourceVersion) >= firstVersion, "the Secret is never blanked");
  const warnings = (await events(ns)).filter((e) => e.type === "Warning" && e.reason === "InvalidExpiration");
  assert.equal(warnings.length, 1, `one Warning, aggregated: ${JSON.stringify(warnings)}`);
  assert.match(warnings[0]!.message, /clock skew/);
}

test("moto's raw ECR answer (token expired in 2015) is reported as InvalidExpiration, not refreshed in a loop", async (t) => {
  await watchAnomaly(
    t,
    { ecrPassThrough: true },
    {
      roleName: "my-ecr-role",
      secretName: "app-aws",
      secretType: "EcrDockerConfigJson",
      ecrRepositoryUrl: ECR_URL,
    },
    "GetAuthorizationToken",
  );
});

test("STS credentials that expired an hour ago are reported as InvalidExpiration, not refreshed in a loop", async (t) => {
  await watchAnomaly(
    t,
    { stsSeconds: -3600 },
    { roleName: "my-role", secretName: "app-aws", secretType: "Map" },
    "AssumeRole",
  );
});
