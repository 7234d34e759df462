// The ECR client is loaded on the first token call only: a fresh process builds the AWS adapter and reports whether
// @aws-sdk/client-ecr is in its module cache (the package is CommonJS, so loading it puts it in require.cache) before
// and after one ecrToken call. The call is aborted before it is sent, against a loopback endpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const AWS_MODULE = pathToFileURL(fileURLToPath(new URL("./aws.ts", import.meta.url))).href;
const LIMITS = pathToFileURL(fileURLToPath(new URL("./rate-limit.ts", import.meta.url))).href;

const CHILD = `
import { createRequire } from "node:module";
const { SdkAwsAccess } = await import(${JSON.stringify(AWS_MODULE)});
const { RateLimiters } = await import(${JSON.stringify(LIMITS)});
const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes("/@aws-sdk/client-ecr/"));
const aws = new SdkAwsAccess(new RateLimiters({}));
const before = loaded();
const credentials = { accessKeyId: "AKIDLAZYTEST", secretAccessKey: "lazy", sessionToken: "lazy", expirationTime: new Date() };
const error = await aws.ecrToken(credentials, "us-east-1", AbortSignal.abort()).then(() => "none", (e) => e.name);
process.stdout.write(JSON.stringify({ before, after: loaded(), error }));
`;

test("the ECR client is not loaded until the first ECR token call, and is loaded by it", async () => {
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      AWS_ENDPOINT_URL: "http://127.0.0.1:9",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "AKIDLAZYTEST",
      AWS_SECRET_ACCESS_KEY: "lazy",
    },
  });
  const report = JSON.parse(stdout) as { before: boolean; after: boolean; error: string };
  assert.equal(report.before, false, "@aws-sdk/client-ecr was loaded with the AWS adapter");
  assert.equal(
    report.after,
    true,
    "@aws-sdk/client-ecr was not loaded by ecrToken (the check would prove nothing)",
  );
  assert.equal(report.error, "AwsFailure", "the aborted call did not fail as an AwsFailure");
});
