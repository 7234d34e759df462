import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  AGENT_TOKEN_AUDIENCE,
  POD_TOKEN_AUDIENCE,
  TokenExtra,
  accountOfRoleArn,
  agentNode,
  servingOrder,
  tokenIdentity,
} from "./pod-identity.ts";
import type { ReviewedToken } from "./pod-identity.ts";

const bound = (username: string, audience: string, node = "node-1"): ReviewedToken => ({
  authenticated: true,
  username,
  audiences: [audience],
  extra: {
    [TokenExtra.podName]: ["app-1"],
    [TokenExtra.podUid]: ["uid-1"],
    [TokenExtra.nodeName]: [node],
  },
});

describe("tokenIdentity", () => {
  test("a bound ServiceAccount token names its namespace, ServiceAccount, Pod and node", () => {
    assert.deepEqual(
      tokenIdentity(bound("system:serviceaccount:team-a:app", POD_TOKEN_AUDIENCE), POD_TOKEN_AUDIENCE),
      {
        namespace: "team-a",
        serviceAccount: "app",
        pod: { name: "app-1", uid: "uid-1" },
        nodeName: "node-1",
      },
    );
  });

  const refusals: [string, ReviewedToken, RegExp][] = [
    ["an invalid token", { authenticated: false, error: "token expired" }, /not valid \(token expired\)/],
    [
      "a token for another audience",
      bound("system:serviceaccount:team-a:app", "https://kubernetes.default.svc"),
      /not for the audience aws-assume-role.pincette.net\/pod/,
    ],
    ["a user's token", bound("alice", POD_TOKEN_AUDIENCE), /not a ServiceAccount's/],
  ];
  for (const [what, review, message] of refusals) {
    test(`refuses ${what}`, () => {
      const identity = tokenIdentity(review, POD_TOKEN_AUDIENCE);
      assert.ok("problem" in identity);
      assert.match(identity.problem, message);
    });
  }

  test("a token bound to no Pod has no Pod", () => {
    const identity = tokenIdentity(
      { authenticated: true, username: "system:serviceaccount:a:b", audiences: [POD_TOKEN_AUDIENCE] },
      POD_TOKEN_AUDIENCE,
    );
    assert.ok(!("problem" in identity));
    assert.equal(identity.pod, undefined);
  });
});

describe("agentNode", () => {
  const agent = { namespace: "aws-pod-identity", serviceAccount: "aws-pod-identity-agent" };

  test("the agent's bound token speaks for its node", () => {
    assert.deepEqual(
      agentNode(
        bound("system:serviceaccount:aws-pod-identity:aws-pod-identity-agent", AGENT_TOKEN_AUDIENCE),
        agent,
      ),
      { nodeName: "node-1" },
    );
  });

  test("another ServiceAccount's token is not the agent's, whatever its audience", () => {
    const result = agentNode(bound("system:serviceaccount:team-a:app", AGENT_TOKEN_AUDIENCE), agent);
    assert.ok("problem" in result);
    assert.match(result.problem, /team-a\/app's, not the node agent's/);
  });

  test("a Pod token (the Pod audience) is refused as an agent token", () => {
    const result = agentNode(
      bound("system:serviceaccount:aws-pod-identity:aws-pod-identity-agent", POD_TOKEN_AUDIENCE),
      agent,
    );
    assert.ok("problem" in result);
  });

  test("an agent token bound to no Pod is refused (it could claim any node)", () => {
    const result = agentNode(
      {
        authenticated: true,
        username: "system:serviceaccount:aws-pod-identity:aws-pod-identity-agent",
        audiences: [AGENT_TOKEN_AUDIENCE],
      },
      agent,
    );
    assert.ok("problem" in result);
    assert.match(result.problem, /not bound to a Pod/);
  });
});

describe("servingOrder", () => {
  test("the oldest association serves; a tie goes to the first name", () => {
    const a = (name: string, creationTimestamp: string) => ({ metadata: { name, creationTimestamp } });
    const order = servingOrder([
      a("c", "2026-01-02T00:00:00Z"),
      a("b", "2026-01-01T00:00:00Z"),
      a("a", "2026-01-02T00:00:00Z"),
    ]);
    assert.deepEqual(
      order.map((x) => x.metadata.name),
      ["b", "a", "c"],
    );
  });
});

test("accountOfRoleArn reads the account of a role ARN in any partition", () => {
  assert.equal(accountOfRoleArn("arn:aws-cn:iam::123456789012:role/app"), "123456789012");
  assert.equal(accountOfRoleArn("arn:aws:sts::123456789012:assumed-role/app/x"), undefined);
});
