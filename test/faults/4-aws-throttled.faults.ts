// Fault: half of all STS and ECR calls fail (throttled, or a 503) from the moment the fleet is created until
// after its first credentials would have expired, so both the first issue and the first refresh of every resource
// (EcrDockerConfigJson ones need an STS and an ECR call to both succeed) happen under faults. AWS stays reachable,
// so no Secret may ever hold expired credentials.
import { test } from "node:test";
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

// With half the calls failing, an ECR refresh succeeds one attempt in four: a 60 s lifetime leaves about 20
// attempts before expiry (backoff capped at 1.5 s), so the chance that one refresh never gets through is < 0.1 %.
const LIFETIME_SECONDS = 60;

/** 50 % of the service's calls: a quarter throttled, a quarter 503 ServiceUnavailable. */
function halfFailing(service: string): FaultRule[] {
  return [
    { service, kind: "throttle", probability: 0.25 },
    { service, kind: "unavailable", probability: 1 / 3 },
  ];
}

test("half of STS and ECR calls throttled or 5xx for a whole lifetime: no Secret ever expires", async (t) => {
  const sc = await setUp(t, LIFETIME_SECONDS);
  await operator(t, sc, "operator");
  await sc.checker.waitRecovered(Date.now(), 30_000); // the conflicting resources settled

  const start = Date.now();
  sc.proxy.setFaults([...halfFailing("sts"), ...halfFailing("ecr")]);
  await createFleet(sc.namespace, fleet(RESOURCES));
  await sleepUntil(start + (LIFETIME_SECONDS + 3) * 1000);
  sc.proxy.clearFaults();
  const end = Date.now();

  const recoveryMs = await sc.checker.waitRecovered(end, 60_000);
  // The window already spans a whole lifetime; the ci profile does not follow the last refreshes to expiry.
  if (!CI) await soak(sc, end);
  const summary = await sc.checker.stop();
  const during = sc.checker
    .allRecords()
    .filter((r) => Date.parse(r.time) >= start && Date.parse(r.time) <= end);
  const faulted = (kind: string) => during.filter((r) => r.fault === kind).length;
  report({
    title: `50 % of STS and ECR calls throttled or 503 for ${LIFETIME_SECONDS + 3} s`,
    scenario: sc,
    summary,
    recoveryMs,
    extra: [
      [
        "calls in the window (throttled / 503 / passed)",
        `${faulted("throttle")} / ${faulted("unavailable")} / ${during.filter((r) => !r.fault).length}`,
      ],
    ],
  });
  assertInvariants(summary);
});
