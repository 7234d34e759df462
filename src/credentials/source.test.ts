// The credential steps both kinds share, through the AWS port's fake: the duration stepped down and remembered, the
// chaining clamp reported once, one ECR token per region bounding the expiry, implausible expiries found, and what a
// failure means for the queue.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AWSAssumeRoleSpec } from "../api/schema.ts";
import { AwsFailure } from "../aws/errors.ts";
import { Reason } from "../domain/conditions.ts";
import { ecrLoginsOf } from "../domain/ecr-logins.ts";
import { FakeAws, T0, awsError, credentials } from "./ports.fakes.ts";
import { ResourceStates } from "./resource-state.ts";
import { CredentialSource, anomalyMessage, awsFailureResult } from "./source.ts";
import type { NewCredentialsRequest } from "./source.ts";

const spec: AWSAssumeRoleSpec = {
  roleName: "app",
  secretName: "app-aws",
  secretType: "Map",
  durationSeconds: 43200,
};

function request(overrides: Partial<NewCredentialsRequest> = {}): NewCredentialsRequest & { told: string[] } {
  const told: string[] = [];
  return {
    spec,
    sessionName: "ns.app",
    tags: {},
    registries: [],
    state: new ResourceStates().of("ns/app", "u", 1),
    onClamped: (m) => void told.push(`clamped: ${m}`),
    onDurationRejected: async (m) => void told.push(`rejected: ${m}`),
    told,
    ...overrides,
  };
}

describe("CredentialSource.newCredentials", () => {
  test("steps the duration down while STS rejects it, says so each time, and remembers the cap", async () => {
    const aws = new FakeAws(
      () => T0,
      [
        awsError(
          "ValidationError",
          "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ),
        awsError(
          "ValidationError",
          "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ),
        credentials(T0, 900),
      ],
    );
    const r = request();
    const fresh = await new CredentialSource(aws, () => T0).newCredentials(r);
    assert.deepEqual(
      aws.requests.map((q) => q.durationSeconds),
      [43200, 3600, 900],
    );
    assert.equal(fresh.durationSeconds, 900);
    assert.equal(r.state.durationCapSeconds, 900);
    assert.equal(r.told.filter((t) => t.startsWith("rejected")).length, 2);
    assert.equal(fresh.roleArn, "arn:aws:iam::123456789012:role/app");
    assert.equal(fresh.anomaly, undefined);
  });

  test("under role chaining asks for one hour and reports the clamp once per spec", async () => {
    const aws = new FakeAws(() => T0);
    aws.identity = { ...aws.identity, assumedRole: true };
    const source = new CredentialSource(aws, () => T0);
    const r = request();
    await source.newCredentials(r);
    await source.newCredentials(r);
    assert.deepEqual(
      aws.requests.map((q) => q.durationSeconds),
      [3600, 3600],
    );
    assert.equal(r.told.filter((t) => t.startsWith("clamped")).length, 1);
  });

  test("one ECR token per region; the Secret expires with the first of them", async () => {
    const aws = new FakeAws(() => T0);
    aws.ecrAnswer = (t) => ({ token: btoa("AWS:p"), expirationTime: new Date(t.getTime() + 600_000) });
    const ecrSpec: AWSAssumeRoleSpec = {
      ...spec,
      durationSeconds: 3600,
      secretType: "EcrDockerConfigJson",
      ecrRepositoryUrls: [
        "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/a",
        "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/b",
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/c",
      ],
    };
    const fresh = await new CredentialSource(aws, () => T0).newCredentials(
      request({ spec: ecrSpec, registries: ecrLoginsOf(ecrSpec) }),
    );
    assert.equal(aws.ecrCalls, 2);
    assert.deepEqual(Object.keys(fresh.ecrTokens).sort(), ["eu-west-1", "us-east-1"]);
    assert.equal(fresh.expirationTime.getTime(), T0.getTime() + 600_000);
  });

  test("an ECR token that expired already is an anomaly, described without times", async () => {
    const aws = new FakeAws(() => T0);
    aws.ecrAnswer = () => ({ token: btoa("AWS:p"), expirationTime: new Date("2015-01-01T00:00:00Z") });
    const ecrSpec: AWSAssumeRoleSpec = {
      ...spec,
      secretType: "EcrDockerConfigJson",
      ecrRepositoryUrl: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/a",
    };
    const fresh = await new CredentialSource(aws, () => T0).newCredentials(
      request({ spec: ecrSpec, registries: ecrLoginsOf(ecrSpec) }),
    );
    assert.equal(fresh.anomaly?.problem, "past");
    assert.equal(fresh.anomaly?.what, "ECR token");
    assert.doesNotMatch(anomalyMessage(fresh.anomaly!, "Left"), /2015/);
  });
});

describe("awsFailureResult", () => {
  const failure = (code: string, temporary: boolean) =>
    new AwsFailure(Reason.AWSUnavailable, code, code, temporary);

  test("a call that timed out backs off up to the permanent-error delay", () => {
    assert.deepEqual(awsFailureResult(failure("TimeoutError", true), 60_000), {
      kind: "temporaryError",
      error: failure("TimeoutError", true),
      maxBackoffMs: 60_000,
    });
  });

  test("throttling retries with the queue's backoff; a denial waits for the permanent-error delay", () => {
    const throttled = awsFailureResult(failure("Throttling", true), 60_000);
    assert.equal(throttled.kind, "temporaryError");
    assert.equal(throttled.kind === "temporaryError" ? throttled.maxBackoffMs : 0, undefined);
    const denied = awsFailureResult(failure("AccessDenied", false), 60_000);
    assert.equal(denied.kind, "terminalError");
    assert.equal(denied.kind === "terminalError" ? denied.recheckAfterMs : 0, 60_000);
  });
});
