// The credential authority against the real API server (TokenRequest, TokenReview, Pods, Nodes) and the AWS proxy:
// the operator runs with --pod-identity, and this test asks it as a node agent would. Nodes are plain Node objects
// (no kubelet runs in this world), so the Pods bound to them never start — but they exist, their tokens are real
// bound tokens carrying the node's name, and the checks are the API server's own.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { randomBytes } from "node:crypto";
import type { AwsProxy } from "../testenv/aws-proxy/proxy.ts";
import { ensureCrd, freePorts, startOperator } from "./support/operator.ts";
import { eventually, freshNamespace, kubectl, privateProxy } from "./support/world.ts";
import { suiteContext } from "./support/node.ts";
import { AGENT_TOKEN_AUDIENCE, POD_TOKEN_AUDIENCE } from "../src/domain/pod-identity.ts";
import { PERMITTED_ROLES_ANNOTATION } from "../src/domain/namespace-permissions.ts";

const SERVICE = "pi-authority-test";

interface Answer {
  status: number;
  body: Record<string, string>;
}

/** A GET of the authority as the agent makes it: TLS checked against the Service's name, both tokens in headers. */
function ask(
  port: number,
  ca: string,
  namespace: string,
  agentToken?: string,
  podToken?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/pod-credentials",
        servername: `${SERVICE}.${namespace}.svc`,
        ca,
        headers: {
          ...(agentToken ? { authorization: `Bearer ${agentToken}` } : {}),
          ...(podToken ? { "x-pod-token": podToken } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString("utf8")));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, string> }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const token = (namespace: string, sa: string, pod: string, audience: string) =>
  kubectl([
    "create",
    "token",
    sa,
    "-n",
    namespace,
    "--bound-object-kind",
    "Pod",
    "--bound-object-name",
    pod,
    "--audience",
    audience,
  ]).then((t) => t.trim());

const pod = (namespace: string, name: string, serviceAccount: string, nodeName: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace },
  spec: {
    serviceAccountName: serviceAccount,
    nodeName,
    containers: [{ name: "app", image: "never-pulled" }],
  },
});

describe("the credential authority (--pod-identity) against the API server and the AWS proxy", () => {
  const suffix = randomBytes(3).toString("hex");
  const nodes = [`pi-${suffix}-a`, `pi-${suffix}-b`];
  let app = "";
  let agents = "";
  let port = 0;
  let ca = "";
  let proxy: AwsProxy;
  const tokens: Record<string, string> = {};
  const t = suiteContext("pod identity authority", after);
  after(() => kubectl(["delete", "node", ...nodes, "--ignore-not-found"]).catch(() => undefined));

  before(async () => {
    await ensureCrd();
    app = await freshNamespace(t);
    agents = await freshNamespace(t);
    await kubectl(["annotate", "namespace", app, `${PERMITTED_ROLES_ANNOTATION}=reader`]);
    for (const node of nodes)
      await kubectl(
        ["create", "-f", "-"],
        JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: node } }),
      );
    for (const [ns, sa] of [
      [agents, "agent"],
      [app, "app"],
      [app, "other"],
      [app, "writer"],
    ] as const) {
      await kubectl(["create", "serviceaccount", sa, "-n", ns]);
    }
    const pods = [
      pod(agents, "agent-a", "agent", nodes[0]!),
      pod(agents, "agent-b", "agent", nodes[1]!),
      pod(app, "app-1", "app", nodes[0]!),
      pod(app, "gone-1", "app", nodes[0]!),
      pod(app, "other-1", "other", nodes[0]!),
      pod(app, "writer-1", "writer", nodes[0]!),
    ];
    for (const p of pods) await kubectl(["create", "-f", "-"], JSON.stringify(p));
    for (const [name, spec] of [
      ["reader", { serviceAccount: "app", roleName: "reader" }],
      ["writer", { serviceAccount: "writer", roleName: "writer" }],
    ] as const) {
      await kubectl(
        ["create", "-f", "-"],
        JSON.stringify({
          apiVersion: "pincette.net/v1",
          kind: "AWSPodIdentityAssociation",
          metadata: { name, namespace: app },
          spec,
        }),
      );
    }
    tokens.agentA = await token(agents, "agent", "agent-a", AGENT_TOKEN_AUDIENCE);
    tokens.agentB = await token(agents, "agent", "agent-b", AGENT_TOKEN_AUDIENCE);
    tokens.app = await token(app, "app", "app-1", POD_TOKEN_AUDIENCE);
    tokens.appApiAudience = await token(app, "app", "app-1", "https://kubernetes.default.svc");
    tokens.gone = await token(app, "app", "gone-1", POD_TOKEN_AUDIENCE);
    tokens.other = await token(app, "other", "other-1", POD_TOKEN_AUDIENCE);
    tokens.writer = await token(app, "writer", "writer-1", POD_TOKEN_AUDIENCE);
    await kubectl(["delete", "pod", "gone-1", "-n", app, "--grace-period=0", "--force"]);

    proxy = await privateProxy(t);
    [port] = (await freePorts(1)) as [number];
    await startOperator(t, {
      namespaces: [app, agents],
      awsEndpoint: proxy.url,
      env: { POD_NAMESPACE: agents },
      waitFor: "pod identity server listening",
      args: [
        "--namespace-permissions",
        "--pod-identity",
        "--pod-identity-bind-address",
        `127.0.0.1:${port}`,
        "--pod-identity-agent",
        `${agents}/agent`,
        "--pod-identity-service",
        SERVICE,
        "--pod-identity-webhook",
        `pi-authority-test-${suffix}`,
      ],
    });
    const secret = JSON.parse(
      await kubectl([
        "get",
        "secret",
        "aws-assume-role-operator-pod-identity-tls",
        "-n",
        agents,
        "-o",
        "json",
      ]),
    ) as { data: Record<string, string> };
    ca = Buffer.from(secret.data["ca.crt"]!, "base64").toString("utf8");
  });

  test("a Pod's token, asked for by the agent of its node, gets the credentials AWS issued for the association's role", async () => {
    const before = proxy.records({ action: "AssumeRole" }).length;
    const first = await eventually(
      "the authority to answer 200",
      async () => {
        const a = await ask(port, ca, agents, tokens.agentA, tokens.app);
        return a.status === 200 ? a : undefined;
      },
      30_000,
    );
    const second = await ask(port, ca, agents, tokens.agentA, tokens.app);
    assert.equal(second.status, 200);
    assert.equal(second.body.AccessKeyId, first.body.AccessKeyId);
    const assumed = proxy.records({ action: "AssumeRole" }).slice(before);
    assert.equal(assumed.length, 1, "one AssumeRole for both requests");
    assert.equal(assumed[0]!.params.RoleSessionName, `aarpi.${app}.reader`);
    assert.match(String(assumed[0]!.params.RoleArn), /:role\/reader$/);
    assert.equal(assumed[0]!.issued?.accessKeyId, first.body.AccessKeyId);
    assert.equal(assumed[0]!.issued?.secretAccessKey, first.body.SecretAccessKey);
    assert.equal(assumed[0]!.issued?.sessionToken, first.body.Token);
    assert.ok(Date.parse(first.body.Expiration!) > Date.now() + 15 * 60_000, first.body.Expiration);
  });

  const refusals: [string, () => [string | undefined, string | undefined], number, string, RegExp][] = [
    ["no token at all", () => [tokens.agentA, undefined], 401, "MissingToken", /no Pod token/],
    ["no agent token", () => [undefined, tokens.app], 403, "AgentNotTrusted", /no agent token/],
    [
      "a Pod token in the agent's place",
      () => [tokens.app, tokens.app],
      403,
      "AgentNotTrusted",
      /token audiences .* is invalid|not the node agent's/,
    ],
    [
      "a token for another audience",
      () => [tokens.agentA, tokens.appApiAudience],
      403,
      "InvalidToken",
      /not valid|audience/,
    ],
    [
      "a token of a deleted Pod",
      () => [tokens.agentA, tokens.gone],
      403,
      "InvalidToken",
      /not valid|no longer exists/,
    ],
    [
      "a token presented by another node's agent",
      () => [tokens.agentB, tokens.app],
      403,
      "WrongNode",
      /runs on node .*-a, not on .*-b/,
    ],
    [
      "a Pod whose ServiceAccount has no association",
      () => [tokens.agentA, tokens.other],
      404,
      "NoAssociation",
      /other has no AWSPodIdentityAssociation/,
    ],
    [
      "a role the namespace is not permitted to assume",
      () => [tokens.agentA, tokens.writer],
      403,
      "RoleNotPermitted",
      /may not assume .*:role\/writer/,
    ],
  ];
  for (const [what, tokensOf, status, code, message] of refusals) {
    test(`refuses ${what} (${status} ${code}) with a reason and no AWS call`, async () => {
      const seq = Math.max(0, ...proxy.records().map((r) => r.seq));
      const [agentToken, podToken] = tokensOf();
      const answer = await ask(port, ca, agents, agentToken, podToken);
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      assert.equal(answer.body.Code, code);
      assert.match(answer.body.Message!, message);
      assert.deepEqual(
        proxy.records({ sinceSeq: seq, action: "AssumeRole" }).map((r) => r.params.RoleSessionName),
        [],
      );
    });
  }

  test("the association's status says Ready, counts the Pod that missed the injection, and a Warning names the fix on the Pod", async () => {
    await eventually(
      "reader Ready with one missed Pod",
      async () => {
        const a = JSON.parse(
          await kubectl(["get", "awspodidentityassociation", "reader", "-n", app, "-o", "json"]),
        ) as {
          status?: {
            conditions?: { type: string; status: string; reason: string }[];
            pods?: { missed: number; missedNames?: string[] };
          };
        };
        const ready = a.status?.conditions?.find((c) => c.type === "Ready");
        return ready?.status === "True" && ready.reason === "Associated" && a.status?.pods?.missed === 1
          ? a.status.pods.missedNames
          : undefined;
      },
      30_000,
    ).then((names) => assert.deepEqual(names, ["app-1"]));
    const writer = JSON.parse(
      await kubectl(["get", "awspodidentityassociation", "writer", "-n", app, "-o", "json"]),
    ) as {
      status?: { conditions?: { type: string; status: string; reason: string }[] };
    };
    assert.equal(writer.status?.conditions?.find((c) => c.type === "Ready")?.reason, "RoleNotPermitted");
    await eventually(
      "a PodIdentityNotInjected event on app-1",
      async () => {
        const events = JSON.parse(
          await kubectl([
            "get",
            "events",
            "-n",
            app,
            "--field-selector",
            "involvedObject.name=app-1",
            "-o",
            "json",
          ]),
        ) as { items: { reason: string; type: string; message: string }[] };
        return events.items.find((e) => e.reason === "PodIdentityNotInjected");
      },
      30_000,
    ).then((e) => {
      assert.equal(e.type, "Warning");
      assert.match(e.message, /restart it/);
    });
  });

  test("a second association for the same ServiceAccount is reported and not served", async () => {
    await kubectl(
      ["create", "-f", "-"],
      JSON.stringify({
        apiVersion: "pincette.net/v1",
        kind: "AWSPodIdentityAssociation",
        metadata: { name: "reader-again", namespace: app },
        spec: { serviceAccount: "app", roleName: "reader" },
      }),
    );
    await eventually(
      "reader-again DuplicateAssociation",
      async () => {
        const a = JSON.parse(
          await kubectl(["get", "awspodidentityassociation", "reader-again", "-n", app, "-o", "json"]),
        ) as {
          status?: { conditions?: { type: string; reason: string; message: string }[] };
        };
        return a.status?.conditions?.find((c) => c.type === "Ready" && c.reason === "DuplicateAssociation");
      },
      30_000,
    ).then((c) => assert.match(c.message, /already associated by reader/));
  });
});
