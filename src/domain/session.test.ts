// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { CallerIdentity } from "./naming.ts";
import {
  CHAINED_MAX_DURATION_SECONDS,
  InvalidSessionError,
  OperatorTagKey,
  fallbackDuration,
  isDurationRejection,
  requestedDuration,
  roleArnOf,
  sessionPolicy,
  sessionTags,
} from "./session.ts";

const user: CallerIdentity = { partition: "aws", account: "123456789012", assumedRole: false };
const assumed: CallerIdentity = { partition: "aws", account: "123456789012", assumedRole: true };
const china: CallerIdentity = { partition: "aws-cn", account: "123456789012", assumedRole: false };
const resource = { namespace: "team-a", name: "reader" };

describe("roleArnOf", () => {
  test("builds the ARN of roleName in the operator's own partition and account", () => {
    assert.equal(roleArnOf({ roleName: "my-role" }, user), "arn:aws:iam::123456789012:role/my-role");
    assert.equal(
      roleArnOf({ roleName: "team/app/r" }, china),
      "arn:aws-cn:iam::123456789012:role/team/app/r",
    );
  });

  test("takes roleArn verbatim, in any account and partition", () => {
    for (const arn of ["arn:aws:iam::210987654321:role/x", "arn:aws-cn:iam::123456789012:role/path/x"]) {
      assert.equal(roleArnOf({ roleArn: arn }, user), arn);
    }
  });

  test("throws InvalidSessionError when neither roleName nor roleArn is set", () => {
    assert.throws(() => roleArnOf({}, user), InvalidSessionError);
  });
});

describe("requestedDuration", () => {
  const cases: [string, number | undefined, CallerIdentity, number, boolean][] = [
    ["the spec's duration for a user identity", 43200, user, 43200, false],
    ["900 s when the spec has none", undefined, user, 900, false],
    ["one hour for an assumed-role identity asking for more", 7200, assumed, 3600, true],
    ["exactly one hour unclamped for an assumed role asking for one hour", 3600, assumed, 3600, false],
    ["a short duration unclamped for an assumed role", 900, assumed, 900, false],
  ];
  for (const [what, durationSeconds, identity, expected, clamped] of cases) {
    test(`asks for ${what}`, () => {
      const spec = durationSeconds === undefined ? {} : { durationSeconds };
      assert.deepEqual(requestedDuration(spec, identity), { durationSeconds: expected, clamped });
    });
  }

  test("the chaining cap is STS's one hour", () => {
    assert.equal(CHAINED_MAX_DURATION_SECONDS, 3600);
  });
});

describe("fallbackDuration", () => {
  const cases: [number, number | undefined][] = [
    [43200, 3600],
    [7200, 3600],
    [3601, 3600],
    [3600, 900],
    [1800, 900],
    [901, 900],
    [900, undefined],
  ];
  for (const [rejected, next] of cases) {
    test(`after ${rejected} s was rejected, tries ${next ?? "nothing"}`, () => {
      assert.equal(fallbackDuration(rejected), next);
    });
  }

  test("always ends: every chain of fallbacks reaches undefined in at most two steps", () => {
    let d: number | undefined = 43200;
    const seen: number[] = [];
    while (d !== undefined) {
      seen.push(d);
      d = fallbackDuration(d);
    }
    assert.deepEqual(seen, [43200, 3600, 900]);
  });
});

describe("isDurationRejection", () => {
  test("recognises STS's MaxSessionDuration rejection", () => {
    assert.ok(
      isDurationRejection(
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
      ),
    );
  });

  test("recognises STS's role-chaining rejection", () => {
    assert.ok(
      isDurationRejection(
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
      ),
    );
  });

  test("ignores other validation errors and other codes with a similar message", () => {
    assert.ok(!isDurationRejection("ValidationError", "1 validation error detected: roleArn"));
    assert.ok(!isDurationRejection("AccessDenied", "The requested DurationSeconds exceeds the limit"));
  });
});

describe("sessionTags", () => {
  test("passes the user's tags unchanged when operator tags are off", () => {
    assert.deepEqual(sessionTags({ sessionTags: { team: "a" } }, resource, { enabled: false }), {
      team: "a",
    });
    assert.deepEqual(sessionTags({}, resource, { enabled: false }), {});
  });

  test("adds the resource's namespace and name when enabled", () => {
    assert.deepEqual(sessionTags({ sessionTags: { team: "a" } }, resource, { enabled: true }), {
      team: "a",
      "aws-assume-role-namespace": "team-a",
      "aws-assume-role-name": "reader",
    });
  });

  test("adds the cluster only when a cluster name is given", () => {
    const tags = sessionTags({}, resource, { enabled: true, clusterName: "demo" });
    assert.equal(tags[OperatorTagKey.cluster], "demo");
    assert.ok(!(OperatorTagKey.cluster in sessionTags({}, resource, { enabled: true, clusterName: "" })));
  });

  test("never uses the keys EKS Pod Identity attaches as transitive tags", () => {
    const keys = Object.keys(sessionTags({}, resource, { enabled: true, clusterName: "demo" }));
    for (const podIdentityKey of [
      "kubernetes-namespace",
      "kubernetes-service-account",
      "eks-cluster-arn",
      "eks-cluster-name",
      "kubernetes-pod-name",
      "kubernetes-pod-uid",
    ]) {
      assert.ok(!keys.some((k) => k.toLowerCase() === podIdentityKey), `${podIdentityKey} in ${keys}`);
    }
  });

  for (const key of ["aws-assume-role-namespace", "AWS-Assume-Role-Namespace", "aws-assume-role-NAME"]) {
    test(`refuses a user tag ${key} that collides with an operator tag, naming the key`, () => {
      assert.throws(
        () => sessionTags({ sessionTags: { [key]: "prod" } }, resource, { enabled: true }),
        (e: unknown) => e instanceof InvalidSessionError && e.message.includes(key),
      );
    });
  }

  test("refuses the cluster tag key even without a cluster name", () => {
    const spec = { sessionTags: { "aws-assume-role-cluster": "other" } };
    assert.throws(() => sessionTags(spec, resource, { enabled: true }), InvalidSessionError);
  });

  test("keeps the operator's keys reserved when operator tags are off, so no tenant can forge them", () => {
    for (const key of ["aws-assume-role-namespace", "Aws-Assume-Role-Name", "aws-assume-role-cluster"]) {
      assert.throws(
        () => sessionTags({ sessionTags: { [key]: "prod" } }, resource, { enabled: false }),
        (e: unknown) => e instanceof InvalidSessionError && e.message.includes(key),
      );
    }
  });

  test("refuses more than STS's 50 tags once the operator's are added, saying how many there are", () => {
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "v"]));
    assert.equal(Object.keys(sessionTags({ sessionTags: fifty }, resource, { enabled: false })).length, 50);
    const fortyEight = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`k${i}`, "v"]));
    assert.equal(
      Object.keys(sessionTags({ sessionTags: fortyEight }, resource, { enabled: true })).length,
      50,
    );
    assert.throws(
      () => sessionTags({ sessionTags: fortyEight }, resource, { enabled: true, clusterName: "demo" }),
      (e: unknown) => e instanceof InvalidSessionError && /51/.test(e.message) && /50/.test(e.message),
    );
  });

  test("refuses two user tags whose keys differ only in case, as STS would", () => {
    assert.throws(
      () => sessionTags({ sessionTags: { Team: "a", team: "b" } }, resource, { enabled: false }),
      (e: unknown) =>
        e instanceof InvalidSessionError && e.message.includes("Team") && e.message.includes("team"),
    );
  });

  test("does not modify the spec's tags", () => {
    const spec = { sessionTags: { team: "a" } };
    sessionTags(spec, resource, { enabled: true, clusterName: "demo" });
    assert.deepEqual(spec.sessionTags, { team: "a" });
  });
});

describe("sessionPolicy", () => {
  test("is undefined without a session policy", () => {
    assert.equal(sessionPolicy({}), undefined);
  });

  test("returns a JSON object policy verbatim", () => {
    const policy = '{ "Version": "2012-10-17", "Statement": [] }';
    assert.equal(sessionPolicy({ sessionPolicy: policy }), policy);
  });

  const bad: [string, string][] = [
    ["text starting with {", "{ not json"],
    ["a truncated object", '{"Version": "2012-10-17"'],
    ["an array", "[]"],
    ["null", "null"],
    ["a string", '"{}"'],
  ];
  for (const [what, policy] of bad) {
    test(`refuses ${what} as InvalidSessionError naming sessionPolicy`, () => {
      assert.throws(
        () => sessionPolicy({ sessionPolicy: policy }),
        (e: unknown) => e instanceof InvalidSessionError && e.message.includes("sessionPolicy"),
      );
    });
  }
});
