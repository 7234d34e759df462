// Fault: AWS unreachable (the proxy drops every connection) for longer than the refresh margin but shorter than a
// lifetime, then back. The fleet is created in two waves a third of a lifetime apart, and the outage begins just
// before the first wave's refreshes: the first wave's credentials expire while AWS is down (excused: nothing could
// refresh them), the second wave's refreshes fail in the outage but their credentials outlive it, so the operator
// must replace them once AWS answers again. Secrets must keep their last good credentials throughout.
import { test } from "node:test";
import { sleepUntil } from "./checker.ts";
import {
  CI,
  RESOURCES,
  assertInvariants,
  createFleet,
  fleet,
  listResources,
  operator,
  report,
  setUp,
  soak,
} from "./scenario.ts";

const LIFETIME_SECONDS = CI ? 30 : 45;
// Longer than the refresh margin (a third of the lifetime), shorter than the lifetime.
const OUTAGE_SECONDS = Math.round(LIFETIME_SECONDS * 0.55);

test(`AWS unreachable for ${OUTAGE_SECONDS} s of a ${LIFETIME_SECONDS} s lifetime: last good credentials kept, refreshed once AWS is back`, async (t) => {
  const sc = await setUp(t, LIFETIME_SECONDS);
  await operator(t, sc, "operator");
  const members = fleet(RESOURCES);
  const firstWave = members.slice(0, Math.ceil(members.length / 2));
  await createFleet(sc.namespace, firstWave);
  await sc.checker.waitRecovered(Date.now(), 60_000);
  await sleepUntil(Date.now() + (LIFETIME_SECONDS / 3) * 1000);
  await createFleet(sc.namespace, members.slice(firstWave.length));
  await sc.checker.waitRecovered(Date.now(), 60_000);

  const firstDue = Math.min(
    ...(await listResources(sc.namespace))
      .filter((r) => firstWave.some((m) => m.name === r.metadata.name))
      .map((r) => Date.parse(r.status!.nextRefreshTime!)),
  );
  await sleepUntil(firstDue - 2_000);
  const start = Date.now();
  sc.proxy.setFaults([{ kind: "drop" }]);
  await sleepUntil(start + OUTAGE_SECONDS * 1000);
  const reasons = (await listResources(sc.namespace)).map(
    (r) => r.status?.conditions?.find((c) => c.type === "Ready")?.reason,
  );
  sc.proxy.clearFaults();
  const end = Date.now();
  sc.checker.awsOutage(start, end);

  const recoveryMs = await sc.checker.waitRecovered(end, 60_000);
  await soak(sc, end);
  const summary = await sc.checker.stop();
  report({
    title: `AWS unreachable (every connection dropped) for ${OUTAGE_SECONDS} s`,
    scenario: sc,
    summary,
    recoveryMs,
    extra: [
      [
        "resources reporting AWSUnavailable at the outage's end",
        String(reasons.filter((r) => r === "AWSUnavailable").length),
      ],
      [
        "AWS calls during the outage (all dropped)",
        String(sc.checker.allRecords().filter((r) => r.fault === "drop").length),
      ],
    ],
  });
  assertInvariants(summary);
});
