// Which refreshes write an Event, against the real test world: a scheduled refresh of a Ready resource is routine
// and writes none by default (expected, periodic success); a recovery after an AWS failure and a forced refresh
// write theirs; --refresh-events brings the routine Refreshed back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, freshNamespace, privateProxy } from "./support/world.ts";
import { ACCESS_DENIED } from "./support/aws-proxy-client.ts";
import {
  FAST_RETRY,
  createResource,
  events,
  forceRefresh,
  getResource,
  mapSpec,
  secretData,
  startOperator,
  waitForReady,
} from "./support/operator.ts";

/** Waits until the Secret holds credentials other than `accessKeyId` and status shows the refresh. */
async function refreshedSecret(ns: string, accessKeyId: string, lastRefreshTime: string | undefined) {
  await eventually(
    "new credentials in the Secret",
    async () => {
      const data = await secretData(ns, "app-aws");
      return data && data.awsAccessKeyId !== accessKeyId ? data : undefined;
    },
    30_000,
  );
  await eventually("status after the refresh", async () => {
    const r = await getResource(ns, "app");
    return r.status?.lastRefreshTime !== lastRefreshTime ? r : undefined;
  });
}

test("a scheduled refresh of a Ready resource writes the Secret but no event; a forced one writes Refreshed", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  proxy.setLifetime({ stsSeconds: 15 });
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "app", mapSpec("app-aws"));
  const ready = await waitForReady(ns, "app");
  const first = (await secretData(ns, "app-aws"))!;
  await refreshedSecret(ns, first.awsAccessKeyId!, ready.status?.lastRefreshTime);
  assert.equal(proxy.records({ action: "AssumeRole" }).length, 2, "one scheduled refresh");

  // A later event marks a point in the operator's event stream: the routine refresh's event, had there been one,
  // was sent before the status write seen above, so before this one.
  await forceRefresh(ns, "app", "marker");
  await eventually("the Refreshed event of the forced refresh", async () =>
    (await events(ns)).find((e) => e.reason === "Refreshed" && /forced/.test(e.message)),
  );
  const reasons = (await events(ns)).map((e) => `${e.reason}: ${e.message}`);
  assert.deepEqual(
    reasons.filter((r) => /refresh time was reached/.test(r)),
    [],
    `no event for the scheduled refresh: ${reasons.join(" | ")}`,
  );
  assert.equal(reasons.filter((r) => r.startsWith("Created:")).length, 1, "the Created event stays");
});

test("the first refresh after an AWS failure writes Recovered, naming the failure", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  proxy.setLifetime({ stsSeconds: 15 });
  await startOperator(t, { namespaces: [ns], awsEndpoint: proxy.url, args: FAST_RETRY });
  await createResource(ns, "app", mapSpec("app-aws"));
  await waitForReady(ns, "app");
  // The scheduled refresh (at about 10 s) is denied, then AWS answers again.
  proxy.setFaults([ACCESS_DENIED]);
  await waitForReady(ns, "app", "False", "AccessDenied");
  proxy.clearFaults();
  await waitForReady(ns, "app", "True", "CredentialsReady");
  const recovered = await eventually("the Recovered event", async () =>
    (await events(ns)).find((e) => e.reason === "Recovered"),
  );
  assert.equal(recovered.type, "Normal");
  assert.match(recovered.message, /^Refreshed Secret app-aws for arn:aws:iam::.* after AccessDenied \(/);
  const warnings = (await events(ns)).filter((e) => e.reason === "AccessDenied");
  assert.equal(warnings.length, 1, "the failure's Warning stays");
});

test("with --refresh-events a scheduled refresh writes Refreshed", async (t) => {
  const ns = await freshNamespace(t);
  const proxy = await privateProxy(t);
  proxy.setLifetime({ stsSeconds: 15 });
  await startOperator(t, {
    namespaces: [ns],
    awsEndpoint: proxy.url,
    args: [...FAST_RETRY, "--refresh-events"],
  });
  await createResource(ns, "app", mapSpec("app-aws"));
  await waitForReady(ns, "app");
  const event = await eventually(
    "a Refreshed event for the scheduled refresh",
    async () => (await events(ns)).find((e) => e.reason === "Refreshed" && e.name === "app"),
    30_000,
  );
  assert.equal(event.type, "Normal");
  assert.match(event.message, /\(the refresh time was reached\)$/);
});
