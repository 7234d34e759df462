import { describe, test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import type { AWSPodIdentityAssociation } from "../../api/pod-identity-schema.ts";
import { AssociationCredentials } from "../../credentials/association-credentials.ts";
import { FakeAws, FakeEvents, T0 } from "../../credentials/ports.fakes.ts";
import { AGENT_TOKEN_AUDIENCE, POD_TOKEN_AUDIENCE, TokenExtra } from "../../domain/pod-identity.ts";
import type { ReviewedToken } from "../../domain/pod-identity.ts";
import type { LivePod } from "../../kube/pod-identity.ts";
import { CredentialAuthority } from "./authority.ts";

const AGENT = { namespace: "aws-pod-identity", serviceAccount: "aws-pod-identity-agent" };

const bound = (user: string, audience: string, pod: string, uid: string, node: string): ReviewedToken => ({
  authenticated: true,
  username: `system:serviceaccount:${user}`,
  audiences: [audience],
  extra: { [TokenExtra.podName]: [pod], [TokenExtra.podUid]: [uid], [TokenExtra.nodeName]: [node] },
});

/** Tokens as the API server would review them: name → review. */
const TOKENS: Record<string, ReviewedToken> = {
  "agent-1": bound(
    "aws-pod-identity:aws-pod-identity-agent",
    AGENT_TOKEN_AUDIENCE,
    "agent-x",
    "a1",
    "node-1",
  ),
  "agent-2": bound(
    "aws-pod-identity:aws-pod-identity-agent",
    AGENT_TOKEN_AUDIENCE,
    "agent-y",
    "a2",
    "node-2",
  ),
  "not-agent": bound("team-a:app", AGENT_TOKEN_AUDIENCE, "app-1", "p1", "node-1"),
  app: bound("team-a:app", POD_TOKEN_AUDIENCE, "app-1", "p1", "node-1"),
  "app-api-audience": { ...bound("team-a:app", "https://kubernetes.default.svc", "app-1", "p1", "node-1") },
  "deleted-pod": bound("team-a:app", POD_TOKEN_AUDIENCE, "gone-1", "g1", "node-1"),
  other: bound("team-a:other", POD_TOKEN_AUDIENCE, "other-1", "o1", "node-1"),
};

const PODS: Record<string, LivePod> = {
  "team-a/app-1": { uid: "p1", nodeName: "node-1", serviceAccountName: "app" },
  "team-a/other-1": { uid: "o1", nodeName: "node-1", serviceAccountName: "other" },
};

const association: AWSPodIdentityAssociation = {
  apiVersion: "pincette.net/v1",
  kind: "AWSPodIdentityAssociation",
  metadata: { namespace: "team-a", name: "reader", uid: "u1", generation: 1 },
  spec: { serviceAccount: "app", roleName: "reader", durationSeconds: 3600 },
};

function setup() {
  const aws = new FakeAws(() => T0);
  const reviews: string[] = [];
  const authority = new CredentialAuthority({
    ports: {
      review: async (token, audience) => {
        reviews.push(token);
        const review = TOKENS[token];
        if (!review) return { authenticated: false, error: "invalid bearer token" };
        // The API server answers with the audiences the token and the request share.
        return review.audiences?.includes(audience)
          ? review
          : { authenticated: false, error: "audience mismatch" };
      },
      pod: async (namespace, name) => PODS[`${namespace}/${name}`],
    },
    associationFor: (namespace, serviceAccount) =>
      namespace === "team-a" && serviceAccount === "app" ? association : undefined,
    credentials: new AssociationCredentials({
      aws,
      namespacePermissions: false,
      namespaces: undefined,
      refreshRatio: 2 / 3,
      jitterFraction: 0,
      backoff: { baseMs: 1000, maxMs: 30_000 },
      permanentErrorRetryMs: 60_000,
      events: new FakeEvents(),
      logger: pino({ level: "silent" }),
      now: () => T0,
    }),
    agent: AGENT,
    logger: pino({ level: "silent" }),
    requestTimeoutMs: 1000,
  });
  return { aws, authority, reviews };
}

describe("CredentialAuthority", () => {
  test("serves a Pod's credentials to the agent of its node", async () => {
    const { authority, aws } = setup();
    const answer = await authority.answer({ authorization: "Bearer agent-1", podToken: "app" });
    assert.equal(answer.status, 200);
    assert.equal((answer.body as { AccessKeyId: string }).AccessKeyId, "ASIAEXAMPLE");
    assert.equal(aws.requests.length, 1);
  });

  const refusals: [string, { authorization?: string; podToken?: string }, number, string][] = [
    ["no agent token", { podToken: "app" }, 403, "AgentNotTrusted"],
    [
      "a token that is not the agent's",
      { authorization: "Bearer not-agent", podToken: "app" },
      403,
      "AgentNotTrusted",
    ],
    ["no Pod token", { authorization: "Bearer agent-1" }, 401, "MissingToken"],
    [
      "a token for another audience",
      { authorization: "Bearer agent-1", podToken: "app-api-audience" },
      403,
      "InvalidToken",
    ],
    [
      "a token of a deleted Pod",
      { authorization: "Bearer agent-1", podToken: "deleted-pod" },
      403,
      "InvalidToken",
    ],
    [
      "a Pod token presented by another node's agent",
      { authorization: "Bearer agent-2", podToken: "app" },
      403,
      "WrongNode",
    ],
    [
      "a ServiceAccount without an association",
      { authorization: "Bearer agent-1", podToken: "other" },
      404,
      "NoAssociation",
    ],
    ["garbage", { authorization: "Bearer agent-1", podToken: "garbage" }, 403, "InvalidToken"],
  ];
  for (const [what, request, status, code] of refusals) {
    test(`refuses ${what} (${status} ${code}) without an AWS call`, async () => {
      const { authority, aws } = setup();
      const answer = await authority.answer({
        authorization: request.authorization,
        podToken: request.podToken,
      });
      assert.equal(answer.status, status);
      assert.equal((answer.body as { Code: string }).Code, code);
      assert.ok((answer.body as { Message: string }).Message.length > 10);
      assert.equal(aws.requests.length, 0);
    });
  }

  test("an agent's review is reused for a minute; every Pod token is reviewed", async () => {
    const { authority, reviews } = setup();
    await authority.answer({ authorization: "Bearer agent-1", podToken: "app" });
    await authority.answer({ authorization: "Bearer agent-1", podToken: "app" });
    assert.deepEqual(reviews, ["agent-1", "app", "app"]);
  });
});
