// Fault: the operator is SIGKILLed at random moments, first while it works through a burst of new resources,
// then while their first refreshes are due, and restarted each time. Nothing it did half-way may leave a Secret
// with expired credentials or touch a Secret it does not own, and the fleet is whole again after the last restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunningOperator } from "../support/operator.ts";
import { sleep, sleepUntil } from "./checker.ts";
import {
  CI,
  RESOURCES,
  assertInvariants,
  createFleet,
  fleet,
  listResources,
  operator,
  randomBetween,
  report,
  setUp,
  soak,
} from "./scenario.ts";

const LIFETIME_SECONDS = CI ? 30 : 40;
const BURST_KILLS = CI ? 2 : 4;
const REFRESH_KILLS = CI ? 2 : 6;

test(`SIGKILL ×${BURST_KILLS + REFRESH_KILLS} during a burst and during refreshes: no expired or foreign Secret touched, full recovery`, async (t) => {
  const sc = await setUp(t, LIFETIME_SECONDS);
  const operators: RunningOperator[] = [await operator(t, sc, "operator-0")];
  const killAndRestart = async () => {
    await operators.at(-1)!.kill();
    operators.push(await operator(t, sc, `operator-${operators.length}`));
  };

  // The burst: every resource created at once, the operator killed while it works through them.
  const creating = createFleet(sc.namespace, fleet(RESOURCES));
  for (let i = 0; i < BURST_KILLS; i++) {
    await sleep(randomBetween(200, 1500));
    await killAndRestart();
  }
  await creating;
  const burstRecoveryMs = await sc.checker.waitRecovered(Date.now(), 90_000);
  const burstStsCalls = sc.checker.awsCalls().stsOk;

  // The refreshes: kill at random moments between the first and the last scheduled refresh of the fleet.
  const due = (await listResources(sc.namespace))
    .map((r) => Date.parse(r.status?.nextRefreshTime ?? ""))
    .filter((ms) => !Number.isNaN(ms));
  assert.ok(due.length >= RESOURCES, "every resource has a scheduled refresh");
  const [first, last] = [Math.min(...due) - 1_000, Math.max(...due) + 1_000];
  const moments = Array.from({ length: REFRESH_KILLS }, () => randomBetween(first, last)).sort(
    (a, b) => a - b,
  );
  for (const at of moments) {
    await sleepUntil(at);
    await killAndRestart();
  }

  const faultEnd = Date.now();
  const recoveryMs = await sc.checker.waitRecovered(faultEnd, 90_000);
  await soak(sc, faultEnd);
  const summary = await sc.checker.stop();

  const written = operators
    .flatMap((op) => op.logs())
    .filter((l) => l.msg === "secret created" || l.msg === "secret refreshed").length;
  report({
    title: `operator SIGKILLed ${BURST_KILLS}× during a burst and ${REFRESH_KILLS}× during refreshes`,
    scenario: sc,
    summary,
    recoveryMs,
    extra: [
      ["recovery after the burst", `${(burstRecoveryMs / 1000).toFixed(1)} s`],
      [
        "AssumeRole calls: burst / refreshes and after",
        `${burstStsCalls} / ${summary.aws.stsOk - burstStsCalls}`,
      ],
      ["Secret writes logged (all operators)", String(written)],
      // A kill between AssumeRole and the Secret write wastes the call; during the burst up to one per worker.
      ["AssumeRole results never written (≈)", String(Math.max(0, summary.aws.stsOk - written))],
    ],
  });
  assertInvariants(summary);
});
