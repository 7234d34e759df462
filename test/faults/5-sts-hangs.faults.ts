// Fault: STS never answers the AssumeRole calls of more resources than the operator has workers (the proxy holds
// those requests open without a byte of answer). Every call has a deadline, a timed-out call is a temporary error
// that backs off, so the hung resources report AWSUnavailable while every other resource is still issued and then
// refreshed before its credentials expire.
import { test } from "node:test";
import { roleSessionName } from "../../src/domain/naming.ts";
import type { FaultRule } from "../../testenv/aws-proxy/types.ts";
import { sleepUntil } from "./checker.ts";
import {
  CI,
  RESOURCES,
  assertInvariants,
  createFleet,
  fleet,
  operator,
  report,
  setUp,
  soak,
} from "./scenario.ts";

const LIFETIME_SECONDS = CI ? 30 : 45;
const WORKERS = 4;
/** More hung resources than workers: without deadlines they would hold every worker forever. */
const HUNG = WORKERS * 2;
// Scaled like the backoff (production: 10 s per request, 60 s per reconcile, 16 workers).
const REQUEST_TIMEOUT_MS = 1_000;
const RECONCILE_TIMEOUT_MS = 3_000;

test(`STS never answers for ${HUNG} resources with ${WORKERS} workers: every other resource is issued and refreshed on time`, async (t) => {
  const sc = await setUp(t, LIFETIME_SECONDS);
  const hung = fleet(HUNG, "hung-").map((m) => ({ ...m, secretType: "Map" as const }));
  const rules: FaultRule[] = hung.map((m) => ({
    action: "AssumeRole",
    sessionPrefix: roleSessionName(sc.namespace, m.name),
    kind: "hang",
  }));
  sc.proxy.setFaults(rules);
  sc.checker.expectUnavailable(hung.map((m) => m.name));
  await operator(t, sc, "operator", {
    args: [
      "--max-concurrent-reconciles",
      String(WORKERS),
      "--request-timeout-ms",
      String(REQUEST_TIMEOUT_MS),
      "--reconcile-timeout-ms",
      String(RECONCILE_TIMEOUT_MS),
    ],
  });
  // The hung resources first, so that they are the first to take the workers.
  const start = Date.now();
  await createFleet(sc.namespace, hung);
  await createFleet(sc.namespace, fleet(RESOURCES));
  const issuedMs = await sc.checker.waitRecovered(start, 90_000);

  // Two lifetimes with the hangs in place: every refresh of the others must still land before expiry.
  await sleepUntil(Date.now() + 2 * LIFETIME_SECONDS * 1000);
  const end = Date.now();
  const recoveryMs = await sc.checker.waitRecovered(end, 30_000);
  await soak(sc, end);
  const summary = await sc.checker.stop();
  const records = sc.checker.allRecords();
  report({
    title: `STS never answers ${HUNG} resources' AssumeRole, ${WORKERS} workers`,
    scenario: sc,
    summary,
    recoveryMs, // the hangs never end: how long after two lifetimes the others were all fresh (0: they were)
    extra: [
      ["time until all other resources Ready", `${(issuedMs / 1000).toFixed(1)} s`],
      ["AssumeRole calls held unanswered", String(records.filter((r) => r.fault === "hang").length)],
      [
        "AssumeRole calls answered",
        String(records.filter((r) => r.action === "AssumeRole" && r.status === 200).length),
      ],
    ],
  });
  assertInvariants(summary);
});
