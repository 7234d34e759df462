// Refresh behaviour against the real test world: credentials are replaced before they expire, a restart with fresh
// Secrets costs no AWS call and no write, a force-refresh annotation issues at once (once per value), and the
// refresh schedule survives a restart.
import { FORCE_REFRESH_ANNOTATION } from "../src/domain/plan.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, freshNamespace, kubectl, privateProxy, staysTheSame, world } from "./support/world.ts";
import type { ProxyRecord } from "./support/aws-proxy-client.ts";
import {
  FAST_RETRY,
  createResource,
  events,
  getResource,
  mapSpec,
  readSecret,
  secretData,
  startOperator,
  waitForReady,
} from "./support/operator.ts";
import { roleSessionName } from "../src/domain/naming.ts";

/** AssumeRole calls the proxy saw for one resource (by its session name). */
function assumeRoles(proxy: { records(f: { action: string }): ProxyRecord[] }, ns: string, name: string) {
  const session = roleSessionName(ns, name);
  return proxy.records({ action: "AssumeRole" }).filter((r) => r.params.RoleSessionName === session);
}

/** Polls for `ms` and fails as soon as `check` reports a change; for asserting that nothing happens. */
test("refreshes the Secret before the credentials expire, at about two thirds of their lifetime", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  proxy.setLifetime({ stsSeconds: 15 });
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "app", mapSpec("app-aws"));
  const before = await waitForReady(ns, "app");

  const [first] = proxy.records({ action: "AssumeRole" });
  assert.ok(first?.issued?.accessKeyId && first.issued.expiration, "the proxy saw the first AssumeRole");
  const firstExpiry = Date.parse(first.issued.expiration);
  assert.equal((await secretData(ns, "app-aws"))?.awsAccessKeyId, first.issued.accessKeyId);

  // The schedule in status: two thirds of the lifetime, ±5% jitter.
  const s1 = before.status!;
  assert.equal(Date.parse(s1.expirationTime!), firstExpiry, "status.expirationTime is the issued expiry");
  const issuedAt = Date.parse(s1.lastRefreshTime!);
  const lifetime = firstExpiry - issuedAt;
  const offset = (Date.parse(s1.nextRefreshTime!) - issuedAt) / lifetime;
  assert.ok(
    offset >= 2 / 3 - 0.05 - 0.001 && offset <= 2 / 3 + 0.05 + 0.001,
    `nextRefreshTime is at ${offset.toFixed(3)} of the lifetime, not 2/3 ± 0.05`,
  );

  const refreshed = await eventually(
    "new credentials in the Secret",
    async () => {
      const data = await secretData(ns, "app-aws");
      return data && data.awsAccessKeyId !== first.issued!.accessKeyId ? data : undefined;
    },
    20_000,
    50,
  );
  const seenAt = Date.now();
  assert.ok(
    seenAt < firstExpiry,
    `the new keys appeared at ${new Date(seenAt).toISOString()}, after the old ones expired at ${first.issued.expiration}`,
  );

  const calls = proxy.records({ action: "AssumeRole" });
  assert.equal(calls.length, 2, "one AssumeRole for the refresh, not a loop");
  const second = calls[1]!;
  const secondAt = Date.parse(second.time);
  assert.ok(secondAt < firstExpiry, `the refresh call at ${second.time} came after the expiry`);
  assert.ok(
    secondAt >= Date.parse(s1.nextRefreshTime!) - 50,
    `the refresh call at ${second.time} came before the scheduled ${s1.nextRefreshTime}`,
  );
  assert.equal(refreshed.awsAccessKeyId, second.issued?.accessKeyId);
  assert.equal(refreshed.awsSecretAccessKey, second.issued?.secretAccessKey);
  assert.equal(refreshed.awsSessionToken, second.issued?.sessionToken);

  const after = await eventually("status after the refresh", async () => {
    const r = await getResource(ns, "app");
    return r.status?.lastRefreshTime !== s1.lastRefreshTime ? r : undefined;
  });
  const s2 = after.status!;
  for (const field of ["lastRefreshTime", "nextRefreshTime", "expirationTime"] as const) {
    assert.ok(
      Date.parse(s2[field]!) > Date.parse(s1[field]!),
      `status.${field} moved forward: ${s1[field]} → ${s2[field]}`,
    );
  }
  assert.equal(s2.expirationTime, new Date(Date.parse(second.issued!.expiration!)).toISOString());
  assert.equal(after.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
  // Which events a scheduled refresh writes (none by default): test/refresh-events.test.ts.
});

test("a restart with fresh Secrets makes no AssumeRole call and rewrites nothing, yet restores a deleted Secret", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  // One worker: the restarted operator reconciles the resources in list order (by name), so the restore of
  // "b-restored" shows that "a-kept" has been reconciled before it.
  const args = [...FAST_RETRY, "--max-concurrent-reconciles", "1"];
  const first = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args });
  await createResource(ns, "a-kept", mapSpec("a-kept-aws"));
  await createResource(ns, "b-restored", mapSpec("b-restored-aws"));
  await waitForReady(ns, "a-kept");
  await waitForReady(ns, "b-restored");

  assert.equal(await first.stop(), 0, "the operator exits cleanly on SIGTERM");
  const w = await world();
  await w.core.deleteNamespacedSecret({ namespace: ns, name: "b-restored-aws" });

  const kept = (await readSecret(ns, "a-kept-aws"))!;
  const keptResource = await getResource(ns, "a-kept");
  const lastSeq = Math.max(0, ...proxy.records().map((r) => r.seq));
  assert.equal(assumeRoles(proxy, ns, "a-kept").length, 1);

  const second = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args });
  const restored = await eventually("the deleted Secret restored by the new operator", () =>
    secretData(ns, "b-restored-aws"),
  );
  assert.ok(restored.awsAccessKeyId, "the restored Secret holds credentials");
  await waitForReady(ns, "b-restored");

  const check = async (): Promise<string | undefined> => {
    const calls = assumeRoles(proxy, ns, "a-kept");
    if (calls.length !== 1) return `the restart issued ${calls.length - 1} new AssumeRole for a-kept`;
    const now = (await readSecret(ns, "a-kept-aws"))!;
    if (now.metadata?.resourceVersion !== kept.metadata?.resourceVersion)
      return `a-kept's Secret was rewritten (${kept.metadata?.resourceVersion} → ${now.metadata?.resourceVersion})`;
    const resource = await getResource(ns, "a-kept");
    if (resource.metadata.resourceVersion !== keptResource.metadata.resourceVersion)
      return `a-kept was written (status before ${JSON.stringify(keptResource.status)}, after ${JSON.stringify(resource.status)})`;
    return undefined;
  };
  await staysTheSame(1500, check);

  const newCalls = proxy.records({ sinceSeq: lastSeq });
  assert.deepEqual(
    newCalls.filter((r) => r.action === "AssumeRole").map((r) => r.params.RoleSessionName),
    [roleSessionName(ns, "b-restored")],
    "the only AssumeRole after the restart is for the deleted Secret",
  );
  assert.ok(
    newCalls.filter((r) => r.action === "GetCallerIdentity").length <= 1,
    "the operator looks up its identity at most once per process",
  );
  assert.deepEqual(
    newCalls.map((r) => r.action).filter((a) => a !== "AssumeRole" && a !== "GetCallerIdentity"),
    [],
  );
  assert.match(second.output(), /"secret created"/, "the new operator logged the restore");
  // A patch that changes nothing leaves resourceVersion alone, so the debug log is what shows a needless write.
  const writes = second.logs().filter((l) => l.msg === "status updated" && l.name === "a-kept");
  assert.deepEqual(writes, [], "the new operator wrote a-kept's unchanged status");
});

test("a new force-refresh value issues fresh credentials at once; the same value again issues nothing", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  const manifest = (annotations: Record<string, string>, labels: Record<string, string> = {}) =>
    JSON.stringify({
      apiVersion: "pincette.net/v1",
      kind: "AWSAssumeRole",
      metadata: { name: "app", namespace: ns, annotations, labels },
      spec: mapSpec("app-aws"),
    });
  await kubectl(["apply", "-f", "-"], manifest({}));
  const ready = await waitForReady(ns, "app");
  const original = (await secretData(ns, "app-aws"))!;
  assert.equal(proxy.records({ action: "AssumeRole" }).length, 1);

  await kubectl(["apply", "-f", "-"], manifest({ [FORCE_REFRESH_ANNOTATION]: "one" }));
  const forced = await eventually(
    "new credentials after force-refresh=one",
    async () => {
      const data = await secretData(ns, "app-aws");
      return data && data.awsAccessKeyId !== original.awsAccessKeyId ? data : undefined;
    },
    10_000,
  );
  const calls = proxy.records({ action: "AssumeRole" });
  assert.equal(calls.length, 2, "one AssumeRole for the forced refresh");
  assert.equal(forced.awsAccessKeyId, calls[1]!.issued?.accessKeyId);
  assert.equal(forced.awsSessionToken, calls[1]!.issued?.sessionToken);
  const forcedSecret = (await readSecret(ns, "app-aws"))!;
  assert.equal(forcedSecret.metadata?.annotations?.[FORCE_REFRESH_ANNOTATION], "one");
  const after = await eventually("status after the forced refresh", async () => {
    const r = await getResource(ns, "app");
    return r.status?.lastRefreshTime !== ready.status?.lastRefreshTime ? r : undefined;
  });
  assert.ok(Date.parse(after.status!.lastRefreshTime!) > Date.parse(ready.status!.lastRefreshTime!));
  const event = await eventually("a Refreshed event for the forced refresh", async () =>
    (await events(ns)).find((e) => e.reason === "Refreshed" && /forced/.test(e.message)),
  );
  assert.equal(event.type, "Normal");

  // The same value again, with an unrelated change so the operator does see an update.
  await kubectl(["apply", "-f", "-"], manifest({ [FORCE_REFRESH_ANNOTATION]: "one" }, { touched: "yes" }));
  await staysTheSame(1500, async () => {
    const n = proxy.records({ action: "AssumeRole" }).length;
    if (n !== 2) return `re-applying force-refresh=one issued ${n - 2} more AssumeRole`;
    const secret = (await readSecret(ns, "app-aws"))!;
    if (secret.metadata?.resourceVersion !== forcedSecret.metadata?.resourceVersion)
      return "re-applying force-refresh=one rewrote the Secret";
    return undefined;
  });

  // A later new value still works, and costs exactly one call: the re-apply left nothing pending.
  await kubectl(["apply", "-f", "-"], manifest({ [FORCE_REFRESH_ANNOTATION]: "two" }, { touched: "yes" }));
  await eventually("the Secret marked with force-refresh=two", async () =>
    (await readSecret(ns, "app-aws"))?.metadata?.annotations?.[FORCE_REFRESH_ANNOTATION] === "two"
      ? true
      : undefined,
  );
  assert.equal(proxy.records({ action: "AssumeRole" }).length, 3);
});

test("the refresh schedule is stable across a restart: nextRefreshTime is recomputed identically", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  const first = await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "app", mapSpec("app-aws"));
  const before = (await waitForReady(ns, "app")).status!;
  assert.ok(before.nextRefreshTime);
  assert.equal(await first.stop(), 0);

  // Without the schedule in status, the new operator has to work it out again from the Secret alone.
  await kubectl([
    "patch",
    "awsassumeroles.pincette.net",
    "app",
    "-n",
    ns,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { nextRefreshTime: null, lastRefreshTime: null, expirationTime: null } }),
  ]);
  assert.equal((await getResource(ns, "app")).status?.nextRefreshTime, undefined);

  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  const after = await eventually("the schedule back in status", async () => {
    const r = await getResource(ns, "app");
    return r.status?.nextRefreshTime ? r.status : undefined;
  });
  assert.equal(after.nextRefreshTime, before.nextRefreshTime);
  assert.equal(after.lastRefreshTime, before.lastRefreshTime);
  assert.equal(after.expirationTime, before.expirationTime);
  assert.equal(proxy.records({ action: "AssumeRole" }).length, 1, "no new credentials were issued");
});

test("a schedule removed from status while the operator runs is written back", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "app", mapSpec("app-aws"));
  const before = (await waitForReady(ns, "app")).status!;

  await kubectl([
    "patch",
    "awsassumeroles.pincette.net",
    "app",
    "-n",
    ns,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { nextRefreshTime: null } }),
  ]);
  const after = await eventually(
    "nextRefreshTime back in status",
    async () => (await getResource(ns, "app")).status?.nextRefreshTime,
    10_000,
  );
  assert.equal(after, before.nextRefreshTime);
  assert.equal(proxy.records({ action: "AssumeRole" }).length, 1, "no new credentials were issued");
});
