// CRD validation of the AWS-depth fields in the real API server: each invalid form of roleArn, externalId,
// sessionPolicy, policyArns, sessionTags, transitiveTagKeys, region, secretTemplate and profile is refused at the
// door with a message that names the field and says in words what is accepted. No operator runs here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { world } from "./support/world.ts";
import { ensureCrd, rejection } from "./support/operator.ts";

const VALID = { roleName: "my-role", secretName: "my-secret", secretType: "Map" };

/** Names the field, and explains the rule rather than quoting a regular expression. */
function assertReadable(message: string, field: string, says: string | RegExp): void {
  assert.ok(message.includes(field), `names ${field}: ${message}`);
  assert.doesNotMatch(
    message,
    /should match '\^/,
    `explains the rule rather than quoting a pattern: ${message}`,
  );
  if (typeof says === "string") assert.ok(message.includes(says), `says "${says}": ${message}`);
  else assert.match(message, says);
}

test("a spec using every AWS-depth field correctly is accepted", async () => {
  await ensureCrd();
  const w = await world();
  await w.custom.createNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace: "default",
    body: {
      apiVersion: "pincette.net/v1",
      kind: "AWSAssumeRole",
      metadata: { generateName: "good-" },
      spec: {
        roleArn: "arn:aws-cn:iam::210987654321:role/team/app",
        externalId: "ext-id:1234/abc",
        sessionPolicy: ' {"Version":"2012-10-17","Statement":[]}',
        policyArns: Array.from({ length: 10 }, (_, i) => `arn:aws:iam::aws:policy/P${i}`),
        sessionTags: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key ${i}:/=+-@_.`, `v${i}`])),
        transitiveTagKeys: ["key 0:/=+-@_."],
        region: "us-gov-west-1",
        secretTemplate: { metadata: { labels: { team: "a" }, annotations: { note: "x" } } },
        profile: "dev.team+1@x",
        secretName: "my-secret",
        secretType: "File",
      },
    },
    dryRun: "All",
  });
});

test("roleName and roleArn together are rejected", async () => {
  const message = await rejection({ ...VALID, roleArn: "arn:aws:iam::123456789012:role/x" });
  assertReadable(message, "spec", "exactly one of roleName and roleArn is required");
});

test("a spec with neither roleName nor roleArn is rejected", async () => {
  const message = await rejection({ secretName: "my-secret", secretType: "Map" });
  assertReadable(message, "spec", "exactly one of roleName and roleArn is required");
});

for (const roleArn of [
  "arn:aws:iam::12345678901:role/x",
  "arn:aws:s3:::bucket",
  "arn:aws:iam::123456789012:user/x",
  "arn:azure:iam::123456789012:role/x",
  "my-role",
]) {
  test(`roleArn ${roleArn} is rejected as not an IAM role ARN`, async () => {
    const { roleName: _, ...rest } = VALID;
    const message = await rejection({ ...rest, roleArn });
    assertReadable(message, "spec.roleArn", "must be an IAM role ARN");
  });
}

test("an externalId of one character is rejected with the minimum length", async () => {
  const message = await rejection({ ...VALID, externalId: "x" });
  assertReadable(message, "spec.externalId", /at least 2/);
});

for (const externalId of ["has space", "semi;colon", "quote'"]) {
  test(`an externalId with a character STS does not allow (${JSON.stringify(externalId)}) is rejected`, async () => {
    const message = await rejection({ ...VALID, externalId });
    assertReadable(message, "spec.externalId", "letters, digits and +=,.@:/-_");
  });
}

test("a sessionPolicy that does not start with { is rejected as not a JSON policy document", async () => {
  const message = await rejection({ ...VALID, sessionPolicy: "Version: 2012-10-17" });
  assertReadable(message, "spec.sessionPolicy", "must be a JSON policy document");
});

test("11 policyArns are rejected with the limit of 10", async () => {
  const policyArns = Array.from({ length: 11 }, (_, i) => `arn:aws:iam::aws:policy/P${i}`);
  const message = await rejection({ ...VALID, policyArns });
  assertReadable(message, "spec.policyArns", /at most 10/);
});

for (const arn of ["arn:aws:iam::123456789012:role/x", "arn:aws:iam::aws:policy/", "ReadOnlyAccess"]) {
  test(`a policyArns entry ${arn} is rejected as not a policy ARN`, async () => {
    const message = await rejection({
      ...VALID,
      policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess", arn],
    });
    assertReadable(message, "spec.policyArns[1]", "must be an IAM policy ARN");
  });
}

test("51 sessionTags are rejected with the limit of 50", async () => {
  const sessionTags = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"]));
  const message = await rejection({ ...VALID, sessionTags });
  assertReadable(message, "spec.sessionTags", /at most 50/);
});

for (const key of ["bad!key", "", "x".repeat(129)]) {
  test(`a session tag key ${JSON.stringify(key.slice(0, 10))}${key.length > 10 ? "…" : ""} is rejected`, async () => {
    const message = await rejection({ ...VALID, sessionTags: { [key]: "v" } });
    assertReadable(message, "spec.sessionTags", "session tag keys must be 1 to 128 letters, digits");
  });
}

test("a session tag value with a character STS does not allow is rejected", async () => {
  const message = await rejection({ ...VALID, sessionTags: { team: "a;b" } });
  assertReadable(message, "spec.sessionTags", "session tag values must be");
});

test("a transitiveTagKeys entry that is not a key of sessionTags is rejected", async () => {
  for (const extra of [{ sessionTags: { team: "a" } }, {}]) {
    const message = await rejection({ ...VALID, ...extra, transitiveTagKeys: ["project"] });
    assertReadable(message, "spec", "every transitiveTagKeys entry must be a key of sessionTags");
  }
});

for (const region of ["EU-West-1", "europe", "eu-west", "eu_west_1"]) {
  test(`region ${region} is rejected with an example of a region name`, async () => {
    const message = await rejection({ ...VALID, region });
    assertReadable(message, "spec.region", "must be an AWS region name such as 'eu-west-1'");
  });
}

test("a secretTemplate label app.kubernetes.io/managed-by is rejected as the operator's own", async () => {
  const message = await rejection({
    ...VALID,
    secretTemplate: { metadata: { labels: { "app.kubernetes.io/managed-by": "me" } } },
  });
  assertReadable(message, "spec.secretTemplate.metadata", "labels may not set app.kubernetes.io/managed-by");
});

test("a profile with secretType Map is rejected as only allowed for File", async () => {
  const message = await rejection({ ...VALID, profile: "dev" });
  assertReadable(message, "spec", "profile is only allowed when secretType is File");
});

test("a profile name with a character outside letters, digits and _.+@- is rejected", async () => {
  const message = await rejection({ ...VALID, secretType: "File", profile: "dev]\n[evil" });
  assertReadable(message, "spec.profile", "must be a profile name");
});
