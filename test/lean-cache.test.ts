// The operator's caches hold no credentials: a Secret is cached as its metadata plus the hash of its data, and
// our own latest write is remembered the same way. A heap snapshot of the running operator (live objects only: the
// snapshot collects garbage first) is searched for the credentials it just wrote, plaintext and base64.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshNamespace, privateProxy } from "./support/world.ts";
import { createResource, readSecret, startOperator, waitForReady } from "./support/operator.ts";
import { inspectorCall, inspectorUrl } from "./support/inspector.ts";

test("the operator's heap holds no copy of the credentials it wrote into a Secret", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  const op = await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    env: { NODE_OPTIONS: "--inspect=127.0.0.1:0" },
  });
  await createResource(ns, "app", { roleName: "lean-role", secretName: "creds", secretType: "Map" });
  await waitForReady(ns, "app");
  const secret = await readSecret(ns, "creds");
  assert.ok(secret?.data, "the Secret was written");
  const wanted = ["awsSecretAccessKey", "awsSessionToken"].flatMap((k) => {
    const base64 = secret.data![k]!;
    return [
      { what: `${k} (base64)`, text: base64 },
      { what: k, text: Buffer.from(base64, "base64").toString("utf8") },
    ];
  });
  const url = inspectorUrl(op.output());
  assert.ok(url, "the operator opened its inspector");
  const snapshot = await inspectorCall(url, "HeapProfiler.takeHeapSnapshot");
  assert.ok(snapshot.length > 100_000, `a heap snapshot of ${snapshot.length} characters is too small`);
  const found = wanted.filter((w) => snapshot.includes(JSON.stringify(w.text).slice(1, -1)));
  assert.deepEqual(
    found.map((f) => f.what),
    [],
    "credentials are still reachable in the operator's heap after the write",
  );
});
