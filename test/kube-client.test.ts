// The operator's own Kubernetes transport (src/kube/client.ts, list-watch.ts) against the test world's real API
// server: the verbs and their errors as the engine classifies them, preconditions, one keep-alive pool for requests,
// writes answered while 300 watches are open, and a list + watch that follows adds, updates and deletes, stops cleanly
// and reopens a watch the server ended.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { Agents } from "../src/kube/agents.ts";
import { KubeApiError, KubeClient } from "../src/kube/client.ts";
import { isConflict, isNotFound, statusCode } from "../src/runtime/api-errors.ts";
import { ListWatch } from "../src/kube/list-watch.ts";
import { SecretClient } from "../src/kube/secrets.ts";
import { eventually, freshNamespace, world } from "./support/world.ts";

const secret = (namespace: string, name: string, value: string): V1Secret => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace },
  stringData: { value },
});

test("verbs and errors: 404, 409 AlreadyExists, a stale resourceVersion, a UID precondition", async (t) => {
  const ns = await freshNamespace(t);
  const w = await world();
  const secrets = new SecretClient(w.client);
  assert.equal(await secrets.get(ns, "absent"), undefined);

  const created = await secrets.create(secret(ns, "s", "one"));
  assert.equal(Buffer.from(created.data!.value!, "base64").toString(), "one");

  const again = await secrets.create(secret(ns, "s", "two")).catch((err: unknown) => err);
  assert.ok(again instanceof KubeApiError);
  assert.equal(statusCode(again), 409);
  assert.equal(again.reason, "AlreadyExists");
  assert.match(again.message, /^409: .*already exists/);

  const replaced = await secrets.replace({ ...created, stringData: { value: "three" } });
  const stale = await secrets.replace({ ...created, stringData: { value: "four" } }).catch((e: unknown) => e);
  assert.ok(isConflict(stale), `a replace with the old resourceVersion conflicts: ${String(stale)}`);

  await w.client.mergePatch(`/api/v1/namespaces/${ns}/secrets/s`, {
    metadata: { labels: { patched: "yes" } },
  });
  const read = await secrets.get(ns, "s");
  assert.equal(read?.metadata?.labels?.patched, "yes");
  assert.equal(Buffer.from(read!.data!.value!, "base64").toString(), "three");
  assert.notEqual(read?.metadata?.resourceVersion, replaced.metadata?.resourceVersion);

  const wrongUid = await secrets
    .delete(ns, "s", "00000000-0000-0000-0000-000000000000")
    .catch((e: unknown) => e);
  assert.ok(isConflict(wrongUid), "a delete for another object's UID is refused");
  assert.ok(await secrets.get(ns, "s"), "and the Secret is still there");
  await secrets.delete(ns, "s", read!.metadata!.uid!);
  assert.equal(await secrets.get(ns, "s"), undefined);
  await secrets.delete(ns, "s", read!.metadata!.uid!); // already gone: not an error

  const missing = await w.client.get(`/api/v1/namespaces/${ns}/configmaps/nope`).catch((e: unknown) => e);
  assert.ok(isNotFound(missing));
});

test("requests share one keep-alive connection", async () => {
  const w = await world();
  const client = new KubeClient(w.client.connection);
  for (let i = 0; i < 30; i++) await client.get("/api/v1/namespaces/default");
  const agent = (client as unknown as { agents: Agents }).agents.get("request");
  const idle = Object.values(agent.freeSockets).flat();
  assert.equal(idle.length, 1, "30 sequential requests left exactly one idle socket");
  client.close();
});

test("a deadline from the caller aborts the request", async () => {
  const w = await world();
  const err = await w.client
    .get("/api/v1/namespaces/default", { signal: AbortSignal.abort(new Error("reconcile deadline")) })
    .catch((e: unknown) => e);
  assert.ok(err instanceof Error && /reconcile deadline/.test(err.message), String(err));
});

// 40 watched namespaces with both features on is about 280 watches; each holds a connection for minutes. With one
// pool of 256 sockets for everything, the watches beyond 256 never opened and writes queued behind them.
test("a write completes within its deadline while 300 watches are open through the same client", async (t) => {
  const ns = await freshNamespace(t);
  const w = await world();
  const client = new KubeClient(w.client.connection, 10_000);
  const watches = 300;
  const opened = new Set<number>();
  const added = new Map<number, string[]>();
  const errors: string[] = [];
  const lws = Array.from({ length: watches }, (_, i) => {
    const lw = new ListWatch<V1ConfigMap>({
      client,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: "scale=watch",
      transform: (obj) => obj as V1ConfigMap,
    });
    lw.on("alive", () => opened.add(i));
    lw.on("add", (cm) => added.set(i, [...(added.get(i) ?? []), cm.metadata!.name!]));
    lw.on("error", (err) => errors.push(`watch ${i}: ${String(err)}`));
    return lw;
  });
  t.after(() => {
    for (const lw of lws) lw.stop();
    client.close();
  });
  await Promise.all(lws.map((lw) => lw.start()));
  await eventually(`all ${watches} watches open`, () => {
    if (errors.length) throw new Error(`${errors.length} failed, the first: ${errors[0]}`);
    return opened.size === watches ? true : undefined;
  });

  // The client's own deadline (10 s) applies; a write queued behind the watches would fail with a TimeoutError.
  await client.create(`/api/v1/namespaces/${ns}/configmaps`, {
    metadata: { name: "written", namespace: ns, labels: { scale: "watch" } },
    data: { a: "b" },
  });
  await eventually(`the write seen by all ${watches} watches`, () =>
    lws.every((_, i) => added.get(i)?.includes("written")) ? true : undefined,
  );
  assert.deepEqual(errors, [], "no watch failed meanwhile");
});

test("list + watch: adds, updates and deletes arrive; stop ends it", async (t) => {
  const ns = await freshNamespace(t);
  const w = await world();
  const secrets = new SecretClient(w.client);
  await secrets.create(secret(ns, "before", "x"));
  const seen: string[] = [];
  const lw = new ListWatch<V1Secret>({
    client: w.client,
    path: `/api/v1/namespaces/${ns}/secrets`,
    labelSelector: "pick=me",
    transform: (obj) => obj as V1Secret,
  });
  lw.on("add", (s) => seen.push(`add ${s.metadata?.name}`));
  lw.on("update", (s) => seen.push(`update ${s.metadata?.name}`));
  lw.on("delete", (s) => seen.push(`delete ${s.metadata?.name}`));
  lw.on("error", (err) => seen.push(`error ${String(err)}`));
  await lw.start();
  assert.equal(seen.length, 0, "the unlabelled Secret is not listed");

  const labelled = (name: string, value: string): V1Secret => ({
    ...secret(ns, name, value),
    metadata: { name, namespace: ns, labels: { pick: "me" } },
  });
  const a = await secrets.create(labelled("a", "1"));
  await eventually("the add", () => (seen.includes("add a") ? true : undefined));
  await secrets.replace({ ...a, stringData: { value: "2" } });
  await eventually("the update", () => (seen.includes("update a") ? true : undefined));
  await secrets.delete(ns, "a", a.metadata!.uid!);
  await eventually("the delete", () => (seen.includes("delete a") ? true : undefined));
  assert.deepEqual(seen, ["add a", "update a", "delete a"]);
  assert.equal(lw.get("a", ns), undefined);

  lw.stop();
  await secrets.create(labelled("late", "1"));
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(seen, ["add a", "update a", "delete a"], "nothing arrives after stop()");
});

// 410 Gone needs an etcd compaction, which would disturb every other test using the world at that moment: the fault
// suite's test/faults/6-apiserver-restart.faults.ts compacts etcd and shows the informers relisting and missing
// nothing. Here: a watch the server ends (its timeoutSeconds) is reopened from the same resourceVersion, no relist.
test("a watch the server ends is reopened from where it was, without a relist", async (t) => {
  const ns = await freshNamespace(t);
  const w = await world();
  const client = new CountingClient(w.client.connection);
  const seen: string[] = [];
  const lw = new ListWatch<V1Secret>({
    client,
    path: `/api/v1/namespaces/${ns}/secrets`,
    transform: (obj) => obj as V1Secret,
    watchTimeoutSeconds: 1,
  });
  lw.on("add", (s) => seen.push(`add ${s.metadata?.name}`));
  lw.on("error", (err) => seen.push(`error ${String(err)}`));
  t.after(() => lw.stop());
  await lw.start();
  const secrets = new SecretClient(w.client);
  for (const name of ["one", "two", "three"]) {
    await new Promise((r) => setTimeout(r, 1500)); // the watch open at the write ended at least once before it
    await secrets.create(secret(ns, name, "1"));
    await eventually(`the add of ${name}`, () => (seen.includes(`add ${name}`) ? true : undefined));
  }
  assert.deepEqual(seen, ["add one", "add two", "add three"]);
  assert.equal(client.lists, 1, "reopening a watch the server ended lists nothing");
});

/** The real client, counting the list pages it asks for. */
class CountingClient extends KubeClient {
  lists = 0;
  override get<T>(path: string, options?: Parameters<KubeClient["get"]>[1]): Promise<T> {
    if (options?.query?.limit) this.lists++;
    return super.get<T>(path, options);
  }
}
