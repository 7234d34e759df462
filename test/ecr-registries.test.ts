// ecrRepositoryUrls against the real test world: one dockerconfigjson holding every listed registry, with one
// GetAuthorizationToken per region (counted in the AWS proxy's recording), and readable CRD errors for bad URLs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createResource, rejection, secretData, startOperator, waitForReady } from "./support/operator.ts";
import { freshNamespace, privateProxy } from "./support/world.ts";

const EU = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/app";
const EU_OTHER_ACCOUNT = "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com";
const US = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/charts";

test("one pull secret holds every listed registry, with one ECR token per region", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await createResource(ns, "pull", {
    roleName: "ecr-pull",
    secretName: "pull",
    secretType: "EcrDockerConfigJson",
    ecrRepositoryUrl: EU,
    ecrRepositoryUrls: [EU_OTHER_ACCOUNT, US, EU],
  });
  await waitForReady(ns, "pull");

  const calls = proxy.records({ service: "ecr", action: "GetAuthorizationToken" });
  assert.deepEqual(calls.map((c) => c.region).sort(), ["eu-west-1", "us-east-1"], "one token per region");
  const tokenOf = (region: string) => calls.find((c) => c.region === region)!.issued!.authorizationToken!;
  const data = (await secretData(ns, "pull"))!;
  const config = JSON.parse(data[".dockerconfigjson"]!) as {
    auths: Record<string, { username: string; password: string; auth: string }>;
  };
  assert.deepEqual(
    Object.keys(config.auths),
    [EU, EU_OTHER_ACCOUNT, US],
    "every registry once, in spec order",
  );
  for (const [url, region] of [
    [EU, "eu-west-1"],
    [EU_OTHER_ACCOUNT, "eu-west-1"],
    [US, "us-east-1"],
  ] as const) {
    const entry = config.auths[url]!;
    assert.equal(entry.username, "AWS");
    assert.equal(entry.auth, tokenOf(region), `${url} uses the ${region} token`);
    assert.equal(`AWS:${entry.password}`, Buffer.from(tokenOf(region), "base64").toString("utf8"));
  }
});

test("the CRD rejects a malformed URL in ecrRepositoryUrls and the list on another secretType, readably", async () => {
  const ecr = { roleName: "r", secretName: "s", secretType: "EcrDockerConfigJson" };
  assert.match(
    await rejection({ ...ecr, ecrRepositoryUrls: [EU, "https://example.com/v2/x"] }),
    /ecrRepositoryUrls\[1\]: Invalid value: "https:\/\/example.com\/v2\/x": must be an ECR registry URL/,
  );
  assert.match(
    await rejection({ roleName: "r", secretName: "s", secretType: "Map", ecrRepositoryUrls: [EU] }),
    /ecrRepositoryUrl \(or ecrRepositoryUrls\) is required when secretType is EcrDockerConfigJson, and only allowed then/,
  );
  assert.match(await rejection({ ...ecr, ecrRepositoryUrls: [] }), /ecrRepositoryUrls: Invalid value: 0/);
});
