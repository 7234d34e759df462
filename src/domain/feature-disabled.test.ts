import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Condition } from "../api/schema.ts";
import { featureDisabledMessage, needsDisabledReport } from "./feature-disabled.ts";

const kind = {
  kind: "ClusterAWSAssumeRole",
  flag: "--cluster-assume-roles",
  chartValue: "clusterAssumeRoles.enabled",
  consequence: "no Secret is written to any namespace",
};
const message = featureDisabledMessage(kind);
const ready = (reason: string, observedGeneration: number, text = message): Condition[] => [
  { type: "Ready", status: "False", reason, message: text, observedGeneration, lastTransitionTime: "t" },
];

describe("featureDisabledMessage", () => {
  test("names the flag, the chart value and the kind", () => {
    assert.match(message, /runs without --cluster-assume-roles \(chart: clusterAssumeRoles\.enabled\)/);
    assert.match(message, /this ClusterAWSAssumeRole is not served: no Secret is written/);
  });
});

describe("needsDisabledReport", () => {
  for (const [name, conditions, generation, expected] of [
    ["no status yet", undefined, 1, true],
    ["a report on an older generation", ready("CredentialsReady", 1), 2, true],
    ["its own report, current", ready("FeatureDisabled", 2), 2, false],
    ["its own report with another message", ready("FeatureDisabled", 2, "old text"), 2, true],
    ["a serving controller's report on the current generation", ready("CredentialsReady", 3), 3, false],
  ] as const) {
    test(`${name}: ${expected ? "reports" : "leaves it"}`, () => {
      assert.equal(needsDisabledReport(conditions, generation, message), expected);
    });
  }
  test("with overwrite, replaces another report on the current generation once per process", () => {
    const served = ready("Associated", 3);
    assert.equal(needsDisabledReport(served, 3, message, { overwrite: true, toldAlready: false }), true);
    assert.equal(needsDisabledReport(served, 3, message, { overwrite: true, toldAlready: true }), false);
  });
});
