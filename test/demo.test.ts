// The README's first command: scripts/demo runs end to end against the test world and shows what it promises.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, world } from "./support/world.ts";

const run = promisify(execFile);

test("scripts/demo applies the three original examples, shows them Ready and proves the File credentials work", async (t) => {
  await world();
  t.after(() => {
    // Stop the demo's operator; the test world stays up for the other tests.
    try {
      // The demo starts the operator in its own process group (npm and node): stop the whole group.
      process.kill(-Number(readFileSync(join(ROOT, ".testenv", "operator.pid"), "utf8")), "SIGTERM");
    } catch {
      // not running
    }
  });
  const { stdout } = await run(join(ROOT, "scripts", "demo"), [], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 240_000,
  });
  for (const name of ["aws-assume-my-role", "aws-assume-my-role-file", "assume-my-ecr-role"]) {
    assert.match(stdout, new RegExp(`^${name}\\s+.*\\sTrue\\s+CredentialsReady\\s`, "m"), `${name} is Ready`);
  }
  assert.match(stdout, /awsAccessKeyId\s+ASIA\w{2}…\w{4} \(20 chars\)/, "Map values are shown masked");
  assert.match(stdout, /"username": "AWS"/, "the ECR pull secret is shown");
  assert.match(
    stdout,
    /"Arn": "arn:aws:sts::123456789012:assumed-role\/my-secrets-manager-role\/aar\.default\.aws-assume-my-role-file"/,
    "GetCallerIdentity with the File credentials returns the assumed role",
  );
  assert.doesNotMatch(
    stdout,
    /aws_secret_access_key=[A-Za-z0-9+/]{40}\b/,
    "secrets are never printed in full",
  );
  assert.match(stdout, /scripts\/demo down/, "next steps are printed");
});
