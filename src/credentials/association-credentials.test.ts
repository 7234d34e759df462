import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { V1Namespace } from "@kubernetes/client-node";
import pino from "pino";
import type { AWSPodIdentityAssociation } from "../api/pod-identity-schema.ts";
import { PERMITTED_ROLES_ANNOTATION } from "../domain/namespace-permissions.ts";
import { RefusedError } from "../domain/pod-identity.ts";
import { AssociationCredentials } from "./association-credentials.ts";
import type { AssociationCredentialsOptions } from "./association-credentials.ts";
import { FakeAws, FakeEvents, T0, awsError, credentials } from "./ports.fakes.ts";
import type { AwsAnswer } from "./ports.fakes.ts";

const association = (
  spec: Partial<AWSPodIdentityAssociation["spec"]> = {},
  uid = "uid-1",
): AWSPodIdentityAssociation => ({
  apiVersion: "pincette.net/v1",
  kind: "AWSPodIdentityAssociation",
  metadata: { namespace: "team-a", name: "reader", uid, generation: 1 },
  spec: { serviceAccount: "app", roleName: "reader", durationSeconds: 3600, ...spec },
});

function setup(answers: AwsAnswer[] = [], options: Partial<AssociationCredentialsOptions> = {}) {
  let now = T0;
  const aws = new FakeAws(() => now, answers);
  const events = new FakeEvents();
  const store = new AssociationCredentials({
    aws,
    namespacePermissions: false,
    namespaces: undefined,
    refreshRatio: 2 / 3,
    jitterFraction: 0,
    backoff: { baseMs: 1000, maxMs: 30_000 },
    permanentErrorRetryMs: 60_000,
    events,
    logger: pino({ level: "silent" }),
    now: () => now,
    ...options,
  });
  return {
    aws,
    events,
    store,
    advance: (ms: number) => {
      now = new Date(now.getTime() + ms);
    },
  };
}

const refusal = async (promise: Promise<unknown>): Promise<RefusedError> => {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RefusedError, String(err));
    return err;
  }
  assert.fail("expected a refusal");
};

describe("AssociationCredentials", () => {
  test("answers in the container credential format, with the role's account", async () => {
    const { store } = setup();
    const answer = await store.credentialsFor(association());
    assert.deepEqual(answer, {
      AccessKeyId: "ASIAEXAMPLE",
      SecretAccessKey: "secret",
      Token: "token",
      Expiration: new Date(T0.getTime() + 3600_000).toISOString(),
      AccountId: "123456789012",
    });
  });

  test("assumes the role once per refresh window for every Pod, with the association's session name", async () => {
    const { aws, store, advance } = setup();
    await Promise.all(Array.from({ length: 20 }, () => store.credentialsFor(association())));
    advance(30 * 60_000);
    await store.credentialsFor(association());
    assert.equal(aws.requests.length, 1);
    assert.equal(aws.requests[0]!.sessionName, "aarpi.team-a.reader");
    assert.equal(aws.requests[0]!.roleArn, "arn:aws:iam::123456789012:role/reader");
    assert.equal(aws.requests[0]!.durationSeconds, 3600);
    advance(11 * 60_000); // 41 minutes: past two thirds of the hour
    await store.credentialsFor(association());
    assert.equal(aws.requests.length, 2);
  });

  test("a spec change assumes the role anew", async () => {
    const { aws, store } = setup();
    await store.credentialsFor(association());
    await store.credentialsFor(association({ roleName: "writer" }));
    assert.deepEqual(
      aws.requests.map((r) => r.roleArn),
      ["arn:aws:iam::123456789012:role/reader", "arn:aws:iam::123456789012:role/writer"],
    );
  });

  test("while AWS fails, credentials that still work are served and AWS is asked again only after backoff", async () => {
    const { aws, store, advance, events } = setup([
      credentials(T0, 3600),
      awsError("ServiceUnavailable", "down", 503),
    ]);
    const first = await store.credentialsFor(association());
    advance(45 * 60_000);
    assert.deepEqual(await store.credentialsFor(association()), first);
    assert.equal(aws.requests.length, 2);
    assert.deepEqual(await store.credentialsFor(association()), first);
    assert.equal(aws.requests.length, 2, "no AWS call during the backoff");
    assert.deepEqual(events.reasons(), ["AWSUnavailable"]);
  });

  test("without working credentials an AWS refusal is a 403 and an outage a 503, each without retrying at once", async () => {
    const denied = setup([awsError("AccessDenied", "not trusted", 403)]);
    const err = await refusal(denied.store.credentialsFor(association()));
    assert.equal(err.status, 403);
    assert.equal(err.code, "AssumeRoleFailed");
    assert.match(err.message, /not trusted/);
    await refusal(denied.store.credentialsFor(association()));
    assert.equal(denied.aws.requests.length, 1);

    const down = setup([awsError("ServiceUnavailable", "down", 503)]);
    assert.equal((await refusal(down.store.credentialsFor(association()))).status, 503);
  });

  test("expired credentials are not served while AWS fails", async () => {
    const { store, advance } = setup([credentials(T0, 900), awsError("ServiceUnavailable", "down", 503)]);
    await store.credentialsFor(association({ durationSeconds: 900 }));
    advance(15 * 60_000);
    assert.equal((await refusal(store.credentialsFor(association({ durationSeconds: 900 })))).status, 503);
  });

  test("credentials with an implausible expiry are not served", async () => {
    const { store } = setup([credentials(T0, -10)]);
    const err = await refusal(store.credentialsFor(association()));
    assert.equal(err.status, 503);
    assert.match(err.message, /already passed/);
  });

  test("a role the namespace may not assume is refused without an AWS call", async () => {
    const namespace: V1Namespace = {
      metadata: { name: "team-a", annotations: { [PERMITTED_ROLES_ANNOTATION]: "writer" } },
    };
    const { aws, store } = setup([], {
      namespacePermissions: true,
      namespaces: { get: () => namespace, list: () => [namespace] },
    });
    const err = await refusal(store.credentialsFor(association()));
    assert.equal(err.code, "RoleNotPermitted");
    assert.equal(aws.requests.length, 0);
    await store.credentialsFor(association({ roleName: "writer" }));
    assert.equal(aws.requests.length, 1);
  });

  test("a spec that cannot work is refused without an AWS call", async () => {
    const { aws, store } = setup();
    const err = await refusal(store.credentialsFor(association({ sessionPolicy: "{not json" })));
    assert.equal(err.code, "AssociationNotReady");
    assert.match(err.message, /sessionPolicy is not valid JSON/);
    assert.equal(aws.requests.length, 0);
  });

  test("forget drops the association's credentials", async () => {
    const { aws, store } = setup();
    await store.credentialsFor(association());
    store.forget("uid-1");
    assert.equal(store.size(), 0);
    await store.credentialsFor(association());
    assert.equal(aws.requests.length, 2);
  });
});
