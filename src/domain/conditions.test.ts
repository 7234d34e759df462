// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Condition } from "../api/schema.ts";
import { READY, Reason, readyCondition, setCondition } from "./conditions.ts";

const EARLIER = "2030-01-01T00:00:00.000Z";
const NOW = new Date("2030-01-01T01:00:00.000Z");

const readyTrue: Condition = {
  type: READY,
  status: "True",
  reason: Reason.CredentialsReady,
  message: "Credentials are valid until 2030-01-01T01:00:00Z",
  observedGeneration: 1,
  lastTransitionTime: EARLIER,
};

const other: Condition = {
  type: "Degraded",
  status: "False",
  reason: "AsExpected",
  message: "",
  lastTransitionTime: EARLIER,
};

describe("setCondition", () => {
  test("keeps lastTransitionTime when the status is unchanged, even if reason and message change", () => {
    const next = {
      type: READY,
      status: "True" as const,
      reason: "SomethingElse",
      message: "a new message",
      observedGeneration: 2,
    };
    assert.deepEqual(setCondition([readyTrue], next, NOW), [{ ...next, lastTransitionTime: EARLIER }]);
  });

  const flips: { from: Condition["status"]; to: Condition["status"] }[] = [
    { from: "True", to: "False" },
    { from: "False", to: "True" },
    { from: "True", to: "Unknown" },
    { from: "Unknown", to: "True" },
  ];
  for (const { from, to } of flips) {
    test(`sets lastTransitionTime to now when the status flips from ${from} to ${to}`, () => {
      const next = { type: READY, status: to, reason: Reason.AccessDenied, message: "denied" };
      const [ready] = setCondition([{ ...readyTrue, status: from }], next, NOW);
      assert.deepEqual(ready, { ...next, lastTransitionTime: NOW.toISOString() });
    });
  }

  test("sets lastTransitionTime to now for a new condition", () => {
    const next = { type: READY, status: "True" as const, reason: Reason.CredentialsReady, message: "ok" };
    assert.deepEqual(setCondition(undefined, next, NOW), [
      { ...next, lastTransitionTime: NOW.toISOString() },
    ]);
    assert.deepEqual(setCondition([], next, NOW), [{ ...next, lastTransitionTime: NOW.toISOString() }]);
  });

  test("adds a new condition type without touching the others", () => {
    const next = { type: READY, status: "False" as const, reason: Reason.Throttled, message: "slow down" };
    const result = setCondition([other], next, NOW);
    assert.equal(result.length, 2);
    assert.deepEqual(
      result.find((c) => c.type === "Degraded"),
      other,
    );
    assert.deepEqual(
      result.find((c) => c.type === READY),
      { ...next, lastTransitionTime: NOW.toISOString() },
    );
  });

  test("replaces only the condition of the same type and leaves other types alone", () => {
    const next = { type: READY, status: "False" as const, reason: Reason.SecretConflict, message: "taken" };
    const result = setCondition([other, readyTrue], next, NOW);
    assert.equal(result.length, 2);
    assert.deepEqual(
      result.find((c) => c.type === "Degraded"),
      other,
    );
    assert.equal(result.filter((c) => c.type === READY).length, 1);
    assert.deepEqual(
      result.find((c) => c.type === READY),
      { ...next, lastTransitionTime: NOW.toISOString() },
    );
  });

  test("does not modify the list it was given", () => {
    const list = [readyTrue, other];
    const copy = structuredClone(list);
    setCondition(list, { type: READY, status: "False", reason: Reason.AWSError, message: "boom" }, NOW);
    assert.deepEqual(list, copy);
  });
});

describe("readyCondition", () => {
  test("builds a Ready condition with the observed generation", () => {
    assert.deepEqual(readyCondition("True", Reason.CredentialsReady, "ok", 3), {
      type: READY,
      status: "True",
      reason: Reason.CredentialsReady,
      message: "ok",
      observedGeneration: 3,
    });
  });

  test("keeps an observed generation of 0", () => {
    assert.equal(readyCondition("True", Reason.CredentialsReady, "ok", 0).observedGeneration, 0);
  });

  test("omits observedGeneration when it is undefined", () => {
    const condition = readyCondition("False", Reason.InvalidSpec, "bad spec", undefined);
    assert.equal("observedGeneration" in condition, false);
    assert.deepEqual(condition, {
      type: READY,
      status: "False",
      reason: Reason.InvalidSpec,
      message: "bad spec",
    });
  });
});
