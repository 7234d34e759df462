// CRD validation in the real API server: bad specs are refused at the door with messages a person can act on
// (the field, the value, and what would be accepted), defaults are filled in, and `kubectl explain` documents
// the fields. No operator runs here: all of this is the API server's doing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, eventually, freshNamespace, kubectl } from "./support/world.ts";
import { ensureCrd, getResource, rejection } from "./support/operator.ts";

const ECR_URL = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo";
const VALID = { roleName: "my-role", secretName: "my-secret", secretType: "Map" };
const ECR_RULE =
  "ecrRepositoryUrl (or ecrRepositoryUrls) is required when secretType is EcrDockerConfigJson, and only allowed then";

/** A message a person can read: it names the field, and it does not answer with a regular expression. */
function assertReadable(message: string, field: string): void {
  assert.ok(message.includes(`spec.${field}`), `names spec.${field}: ${message}`);
  assert.doesNotMatch(
    message,
    /should match '\^/,
    `explains the rule rather than quoting a pattern: ${message}`,
  );
}

for (const field of ["secretName", "secretType"]) {
  test(`a spec without ${field} is rejected as a required value`, async () => {
    const spec = Object.fromEntries(Object.entries(VALID).filter(([key]) => key !== field));
    assert.match(await rejection(spec), new RegExp(`spec\\.${field}: Required value`));
  });
}

test("a spec without roleName (and without roleArn) is rejected as naming no role", async () => {
  const { secretName, secretType } = VALID;
  const message = await rejection({ secretName, secretType });
  assert.match(message, /roleName/);
  assert.match(message, /required/i);
});

test("a secretType outside the enum is rejected with the supported values", async () => {
  const message = await rejection({ ...VALID, secretType: "Json" });
  assert.match(message, /spec\.secretType: Unsupported value: "Json"/);
  assert.match(message, /supported values: "Map", "File", "EcrDockerConfigJson"/);
});

test("EcrDockerConfigJson without ecrRepositoryUrl is rejected", async () => {
  const message = await rejection({ ...VALID, secretType: "EcrDockerConfigJson" });
  assert.ok(message.includes(ECR_RULE), message);
});

test("ecrRepositoryUrl with secretType Map is rejected", async () => {
  const message = await rejection({ ...VALID, ecrRepositoryUrl: ECR_URL });
  assert.ok(message.includes(ECR_RULE), message);
});

for (const [what, url] of [
  ["a URL that is not ECR", "https://example.com/x"],
  ["an http:// URL", "http://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo"],
  ["an 11-digit account", "https://12345678901.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo"],
]) {
  test(`an ecrRepositoryUrl with ${what} is rejected with an example of a valid one`, async () => {
    const message = await rejection({ ...VALID, secretType: "EcrDockerConfigJson", ecrRepositoryUrl: url });
    assert.ok(message.includes(`Invalid value: "${url}"`), message);
    assertReadable(message, "ecrRepositoryUrl");
    assert.match(message, /ECR/);
    assert.ok(message.includes("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"), message);
  });
}

test("durationSeconds below 900 is rejected with the minimum", async () => {
  const message = await rejection({ ...VALID, durationSeconds: 899 });
  assert.match(message, /spec\.durationSeconds: Invalid value: 899: .*greater than or equal to 900/);
});

test("durationSeconds above 43200 is rejected with the maximum", async () => {
  const message = await rejection({ ...VALID, durationSeconds: 43201 });
  assert.match(message, /spec\.durationSeconds: Invalid value: 43201: .*less than or equal to 43200/);
});

test("a secretName that is not a DNS subdomain is rejected with what a Secret name may hold", async () => {
  const message = await rejection({ ...VALID, secretName: "Bad_Name" });
  assert.ok(message.includes('Invalid value: "Bad_Name"'), message);
  assertReadable(message, "secretName");
  assert.match(message, /lowercase/);
});

test("a roleName with characters IAM does not allow is rejected with what a role name may hold", async () => {
  const message = await rejection({ ...VALID, roleName: "my role" });
  assert.ok(message.includes('Invalid value: "my role"'), message);
  assertReadable(message, "roleName");
});

test("kubectl shows the rejection on stderr and stores nothing", async (t) => {
  await ensureCrd();
  const ns = await freshNamespace(t);
  const manifest = JSON.stringify({
    apiVersion: "pincette.net/v1",
    kind: "AWSAssumeRole",
    metadata: { name: "ecr-without-url", namespace: ns },
    spec: { ...VALID, secretType: "EcrDockerConfigJson" },
  });
  const err = await kubectl(["apply", "-f", "-"], manifest).then(
    () => assert.fail("kubectl apply succeeded"),
    (e: { stderr?: string }) => e,
  );
  assert.match(err.stderr ?? "", /The AWSAssumeRole "ecr-without-url" is invalid/);
  assert.ok(err.stderr?.includes(ECR_RULE), err.stderr);
  const listed = await kubectl(["get", "awsassumeroles", "-n", ns, "-o", "name"]);
  assert.equal(listed.trim(), "");
});

test("the original Map manifest is accepted and durationSeconds defaults to 900", async (t) => {
  await ensureCrd();
  const ns = await freshNamespace(t);
  const manifest = readFileSync(join(ROOT, "test/fixtures/original/map.yaml"), "utf8").replace(
    "namespace: default",
    `namespace: ${ns}`,
  );
  assert.doesNotMatch(manifest, /durationSeconds/, "the original manifest does not set it");
  await kubectl(["apply", "-f", "-"], manifest);
  const stored = await getResource(ns, "aws-assume-my-role");
  assert.equal(stored.spec.durationSeconds, 900);
  assert.deepEqual(stored.spec, {
    roleName: "my-secrets-manager-role",
    secretName: "assume-my-secrets-manager-role",
    secretType: "Map",
    durationSeconds: 900,
  });
});

test("kubectl explain describes spec.roleName", async () => {
  await ensureCrd();
  // The API server publishes a new CRD's OpenAPI document shortly after the CRD is established.
  const out = await eventually("kubectl explain to know awsassumerole.spec.roleName", async () => {
    const text = await kubectl(["explain", "awsassumerole.spec.roleName"]);
    return text.includes("DESCRIPTION") ? text : undefined;
  });
  assert.match(out, /FIELD:\s+roleName\s+<string>/);
  assert.match(out, /Name of the IAM role to assume/);
});

const ECR_VALID = { ...VALID, secretType: "EcrDockerConfigJson", ecrRepositoryUrl: ECR_URL };
const SA_RULE = "serviceAccounts is only allowed when secretType is EcrDockerConfigJson";

test("serviceAccounts with a secretType other than EcrDockerConfigJson is rejected with a readable message", async () => {
  for (const secretType of ["Map", "File"]) {
    const message = await rejection({ ...VALID, secretType, serviceAccounts: ["default"] });
    assert.ok(message.includes(SA_RULE), message);
  }
});

test("serviceAccounts must be unique ServiceAccount names, at most 32", async () => {
  assertReadable(await rejection({ ...ECR_VALID, serviceAccounts: ["Default"] }), "serviceAccounts[0]");
  assert.match(
    await rejection({ ...ECR_VALID, serviceAccounts: ["a", "a"] }),
    /spec\.serviceAccounts\[1\]: Duplicate value/,
  );
  const many = Array.from({ length: 33 }, (_, i) => `sa-${i}`);
  assert.match(await rejection({ ...ECR_VALID, serviceAccounts: many }), /spec\.serviceAccounts: Too many/);
});

test("the cluster kind rejects serviceAccounts without EcrDockerConfigJson too, and accepts it with it", async () => {
  const manifest = (secretType: string, extra: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: "pincette.net/v1",
      kind: "ClusterAWSAssumeRole",
      metadata: { name: "sa-validation" },
      spec: { ...VALID, secretType, namespaceSelector: {}, serviceAccounts: ["default"], ...extra },
    });
  const refused = await kubectl(["create", "--dry-run=server", "-f", "-"], manifest("Map", {})).then(
    () => "",
    (err: Error) => err.message,
  );
  assert.ok(refused.includes(SA_RULE), refused);
  await kubectl(
    ["create", "--dry-run=server", "-f", "-"],
    manifest("EcrDockerConfigJson", { ecrRepositoryUrl: ECR_URL }),
  );
});

test("rolloutRestart: consumers defaults to None, and a bad consumers, kind, name or a repeated target is refused in words", async (t) => {
  const ns = await freshNamespace(t);
  await ensureCrd();
  await kubectl(
    ["apply", "-n", ns, "-f", "-"],
    JSON.stringify({
      apiVersion: "pincette.net/v1",
      kind: "AWSAssumeRole",
      metadata: { name: "restarts" },
      spec: { ...VALID, rolloutRestart: { targets: [{ kind: "Deployment", name: "app" }] } },
    }),
  );
  assert.equal((await getResource(ns, "restarts")).spec.rolloutRestart?.consumers, "None");

  const consumers = await rejection({ ...VALID, rolloutRestart: { consumers: "Volumes" } });
  assert.match(consumers, /spec\.rolloutRestart\.consumers: Unsupported value: "Volumes"/);
  assert.match(consumers, /supported values: "None", "Env", "All"/);
  const kind = await rejection({ ...VALID, rolloutRestart: { targets: [{ kind: "Job", name: "x" }] } });
  assert.match(kind, /spec\.rolloutRestart\.targets\[0\]\.kind: Unsupported value: "Job"/);
  assert.match(kind, /"Deployment", "StatefulSet", "DaemonSet"/);
  const name = await rejection({
    ...VALID,
    rolloutRestart: { targets: [{ kind: "Deployment", name: "My_App" }] },
  });
  assertReadable(name, "rolloutRestart.targets[0].name");
  assert.match(name, /must be a workload name/);
  const twice = await rejection({
    ...VALID,
    rolloutRestart: {
      targets: [
        { kind: "Deployment", name: "app" },
        { kind: "Deployment", name: "app" },
      ],
    },
  });
  assert.match(twice, /each workload may be named only once in targets/);
});
