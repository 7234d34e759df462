import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { admissionWebhookRoute, reviewAdmission } from "./webhook.ts";
import type { AssociationLookup } from "./webhook.ts";
import { POD_IDENTITY_ANNOTATION } from "../../domain/pod-injection.ts";

const lookup: AssociationLookup = (namespace, serviceAccountName) =>
  namespace === "team-a" && serviceAccountName === "app" ? "reader" : undefined;

function review(request: Record<string, unknown>): unknown {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "u-1",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: "team-a",
      operation: "CREATE",
      object: {
        metadata: { generateName: "app-" },
        spec: { serviceAccountName: "app", containers: [{ name: "c" }] },
      },
      ...request,
    },
  };
}

interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patchType?: string; patch?: string };
}

describe("reviewAdmission", () => {
  test("a Pod of an associated ServiceAccount is allowed with a JSONPatch", async () => {
    const { status, body } = await reviewAdmission(review({}), lookup);
    assert.equal(status, 200);
    const answer = body as Answer;
    assert.equal(answer.apiVersion, "admission.k8s.io/v1");
    assert.equal(answer.kind, "AdmissionReview");
    assert.equal(answer.response.uid, "u-1");
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, "JSONPatch");
    const ops = JSON.parse(Buffer.from(answer.response.patch!, "base64").toString()) as { path: string }[];
    assert.deepEqual(
      ops.map((o) => o.path),
      ["/spec/containers/0/env", "/spec/containers/0/volumeMounts", "/spec/volumes", "/metadata/annotations"],
    );
    assert.match(JSON.stringify(ops), new RegExp(POD_IDENTITY_ANNOTATION));
  });

  const unpatched: { name: string; request: Record<string, unknown> }[] = [
    {
      name: "another ServiceAccount",
      request: { object: { spec: { serviceAccountName: "other", containers: [{}] } } },
    },
    {
      name: "no serviceAccountName means default, which has none",
      request: { object: { spec: { containers: [{}] } } },
    },
    { name: "an UPDATE", request: { operation: "UPDATE" } },
    { name: "another kind", request: { kind: { group: "apps", version: "v1", kind: "Deployment" } } },
    { name: "a subresource", request: { subResource: "ephemeralcontainers" } },
    {
      name: "every container sets its own credentials",
      request: {
        object: {
          spec: {
            serviceAccountName: "app",
            containers: [{ env: [{ name: "AWS_ACCESS_KEY_ID", value: "x" }] }],
          },
        },
      },
    },
  ];
  for (const c of unpatched) {
    test(`${c.name}: allowed without a patch`, async () => {
      const { status, body } = await reviewAdmission(review(c.request), lookup);
      assert.equal(status, 200);
      assert.deepEqual((body as Answer).response, { uid: "u-1", allowed: true });
    });
  }

  test("the namespace comes from the Pod when the request names none", async () => {
    const seen: string[] = [];
    await reviewAdmission(
      review({
        namespace: undefined,
        object: { metadata: { namespace: "team-b" }, spec: { containers: [{}] } },
      }),
      (ns, sa) => {
        seen.push(`${ns}/${sa}`);
        return undefined;
      },
    );
    assert.deepEqual(seen, ["team-b/default"]);
  });

  const malformed: { name: string; body: unknown }[] = [
    { name: "not an object", body: [1] },
    { name: "another kind", body: { apiVersion: "v1", kind: "Pod" } },
    { name: "admission v1beta1", body: { apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview" } },
    { name: "no request", body: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" } },
    { name: "no uid", body: review({ uid: "" }) },
    { name: "a Pod without containers", body: review({ object: { spec: {} } }) },
    { name: "env not a list", body: review({ object: { spec: { containers: [{ env: "x" }] } } }) },
    {
      name: "annotations not a map",
      body: review({ object: { metadata: { annotations: [] }, spec: { containers: [] } } }),
    },
  ];
  for (const c of malformed) {
    test(`malformed (${c.name}): 400 with a message`, async () => {
      const { status, body } = await reviewAdmission(c.body, lookup);
      assert.equal(status, 400);
      assert.equal(typeof (body as { Message: unknown }).Message, "string");
    });
  }
});

test("admissionWebhookRoute answers a body that is no JSON with 400", async () => {
  const route = admissionWebhookRoute(lookup);
  const answer = await route({
    method: "POST",
    path: "/mutate",
    query: new URLSearchParams(),
    headers: {},
    body: Buffer.from("{"),
    remoteAddress: undefined,
  });
  assert.equal(answer.status, 400);
});
