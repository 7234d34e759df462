// `scripts/demo --node` runs the whole path a person would watch — image build, helm install, the original
// examples, a consumer Pod — and shows the assumed role from inside the consumer Pod.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { hasNode, NO_NODE, uninstallOperator } from "../support/node.ts";
import { kubectl, ROOT, world } from "../support/world.ts";

const run = promisify(execFile);
const ARN =
  "arn:aws:sts::123456789012:assumed-role/my-secrets-manager-role/aar.default.aws-assume-my-role-file";

test(
  "scripts/demo --node installs the chart with the built image and a consumer Pod acts as the assumed role",
  { skip: hasNode() ? false : NO_NODE },
  async (t) => {
    await world();
    t.after(async () => {
      // Leave no operator behind: later suites run their own.
      await kubectl([
        "delete",
        "pod",
        "demo-consumer",
        "demo-pod-identity",
        "-n",
        "default",
        "--ignore-not-found",
      ]);
      await kubectl([
        "delete",
        "awspodidentityassociation",
        "demo-app",
        "-n",
        "default",
        "--ignore-not-found",
      ]);
      await kubectl(["delete", "serviceaccount", "demo-app", "-n", "default", "--ignore-not-found"]);
      await kubectl(["delete", "-f", "examples/", "--ignore-not-found"]).catch(() => undefined);
      await uninstallOperator();
    });
    const { stdout } = await run(join(ROOT, "scripts", "demo"), ["--node"], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 900_000,
    });
    for (const name of ["aws-assume-my-role", "aws-assume-my-role-file", "assume-my-ecr-role"]) {
      assert.match(
        stdout,
        new RegExp(`^${name}\\s+.*\\sTrue\\s+CredentialsReady\\s`, "m"),
        `${name} is Ready`,
      );
    }
    assert.match(stdout, /^aws-assume-role-\S+\s+1\/1\s+Running/m, "the chart's Pods run");
    const consumerLine = stdout.split("\n").find((l) => l.startsWith("{") && l.includes('"arn"'));
    assert.ok(consumerLine, "the consumer Pod's log is shown");
    assert.equal(
      (JSON.parse(consumerLine) as { arn: string }).arn,
      ARN,
      "the consumer acts as the assumed role",
    );
    assert.match(stdout, new RegExp(`^OK: the credentials act as the assumed role ${ARN}$`, "m"));
    assert.match(
      stdout,
      /^OK: a Pod with no credentials in its spec acts as arn:aws:sts::123456789012:assumed-role\/my-secrets-manager-role\/aarpi\.default\.demo-app across [2-9] credential sets, without a restart$/m,
      "the Pod Identity part shows a Pod's SDK refreshing by itself",
    );
    assert.doesNotMatch(
      stdout,
      /aws_secret_access_key=[A-Za-z0-9+/]{40}\b/,
      "secrets are never printed in full",
    );
  },
);
