// The compatibility contract: the original operator's manifests, applied as they are (namespace aside), give
// exactly the Secrets its README shows, and the File Secret works with the AWS CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, awsEnv, freshNamespace, kubectl, privateProxy, world } from "./support/world.ts";
import { secretData, startOperator, waitForReady } from "./support/operator.ts";
import { roleSessionName } from "../src/domain/naming.ts";

const run = promisify(execFile);

/** A fixture with its namespace replaced by the test's own. */
function fixture(name: string, namespace: string): string {
  return readFileSync(join(ROOT, "test/fixtures/original", name), "utf8").replace(
    "namespace: default",
    `namespace: ${namespace}`,
  );
}

test("the original Map example gives an Opaque Secret with the three keys and our ownership marks", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await kubectl(["apply", "-f", "-"], fixture("map.yaml", ns));
  const resource = await waitForReady(ns, "aws-assume-my-role");

  const w = await world();
  const secret = await w.core.readNamespacedSecret({ namespace: ns, name: "assume-my-secrets-manager-role" });
  assert.equal(secret.type, "Opaque");
  assert.deepEqual(Object.keys(secret.data ?? {}).sort(), [
    "awsAccessKeyId",
    "awsSecretAccessKey",
    "awsSessionToken",
  ]);
  assert.equal(secret.metadata?.labels?.["app.kubernetes.io/managed-by"], "aws-assume-role-operator");
  const owner = secret.metadata?.ownerReferences?.[0];
  assert.equal(owner?.kind, "AWSAssumeRole");
  assert.equal(owner?.uid, resource.metadata.uid);
  assert.equal(owner?.controller, true);

  const [call] = proxy.records({ action: "AssumeRole" });
  assert.ok(call, "the proxy saw an AssumeRole");
  assert.equal(call.params.RoleArn, "arn:aws:iam::123456789012:role/my-secrets-manager-role");
  assert.equal(call.params.DurationSeconds, "900");
  assert.equal(call.params.RoleSessionName, roleSessionName(ns, "aws-assume-my-role"));
  const data = (await secretData(ns, "assume-my-secrets-manager-role"))!;
  assert.equal(data.awsAccessKeyId, call.issued?.accessKeyId);
  assert.equal(data.awsSecretAccessKey, call.issued?.secretAccessKey);
  assert.equal(data.awsSessionToken, call.issued?.sessionToken);

  assert.equal(resource.status?.roleArn, "arn:aws:iam::123456789012:role/my-secrets-manager-role");
  assert.equal(resource.status?.secretName, "assume-my-secrets-manager-role");
  assert.equal(resource.status?.observedGeneration, resource.metadata.generation);
  assert.ok(
    resource.status?.expirationTime && resource.status.lastRefreshTime && resource.status.nextRefreshTime,
  );
  const annotations = secret.metadata?.annotations ?? {};
  assert.equal(annotations["aws-assume-role.pincette.net/expiration-time"], resource.status?.expirationTime);
  assert.equal(annotations["aws-assume-role.pincette.net/role-arn"], resource.status?.roleArn);
  assert.match(annotations["aws-assume-role.pincette.net/spec-hash"] ?? "", /^[0-9a-f]{32}$/);
});

test("the original File example gives a credentials file that the AWS CLI uses as the assumed role", async (t) => {
  const ns = await freshNamespace(t);
  await startOperator(t, { namespaces: [ns] });
  await kubectl(["apply", "-f", "-"], fixture("file.yaml", ns));
  await waitForReady(ns, "aws-assume-my-role");

  const data = (await secretData(ns, "assume-my-secrets-manager-role"))!;
  assert.deepEqual(Object.keys(data), ["credentials"]);
  assert.match(
    data.credentials!,
    /^\[default\]\naws_access_key_id=ASIA\w+\naws_secret_access_key=\S+\naws_session_token=\S+\n$/,
  );
  const dir = mkdtempSync(join(tmpdir(), "aar-cli-"));
  writeFileSync(join(dir, "credentials"), data.credentials!);
  const env = await awsEnv();
  const { stdout } = await run("aws", ["sts", "get-caller-identity", "--output", "json"], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"),
      AWS_CONFIG_FILE: join(dir, "config-does-not-exist"),
      AWS_ENDPOINT_URL: env.AWS_ENDPOINT_URL,
      AWS_DEFAULT_REGION: env.AWS_DEFAULT_REGION,
    },
  });
  const identity = JSON.parse(stdout) as { Arn: string };
  assert.equal(
    identity.Arn,
    `arn:aws:sts::123456789012:assumed-role/my-secrets-manager-role/${roleSessionName(ns, "aws-assume-my-role")}`,
  );
});

test("the original ECR example gives a dockerconfigjson pull secret with an ECR token from the registry's region", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url });
  await kubectl(["apply", "-f", "-"], fixture("ecr.yaml", ns));
  await waitForReady(ns, "assume-my-ecr-role");

  const w = await world();
  const secret = await w.core.readNamespacedSecret({ namespace: ns, name: "assume-my-repo-ecr-role" });
  assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
  const text = Buffer.from(secret.data![".dockerconfigjson"]!, "base64").toString("utf8");
  const [ecrCall] = proxy.records({ service: "ecr", action: "GetAuthorizationToken" });
  assert.ok(ecrCall?.issued?.authorizationToken, "the proxy saw GetAuthorizationToken");
  assert.equal(ecrCall.region, "eu-west-1", "ECR is called in the registry's region");
  const [assume] = proxy.records({ action: "AssumeRole" });
  assert.equal(ecrCall.callerSession, assume?.params.RoleSessionName, "ECR is called with the assumed role");
  const token = ecrCall.issued.authorizationToken;
  const password = Buffer.from(token, "base64").toString("utf8").replace(/^AWS:/, "");
  assert.equal(
    text,
    JSON.stringify({
      auths: {
        "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo": {
          username: "AWS",
          password,
          auth: token,
        },
      },
    }),
  );
});
