// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RefreshCause } from "./plan.ts";
import { isRoutineRefresh, refreshEvent } from "./refresh-event.ts";
import type { ReadyBefore, RefreshEventInput } from "./refresh-event.ts";

const SUBJECT = "Secret app for arn:aws:iam::123456789012:role/app";
const READY: ReadyBefore = { status: "True", reason: "CredentialsReady" };
const DENIED: ReadyBefore = { status: "False", reason: "AccessDenied" };

function input(overrides: Partial<RefreshEventInput> = {}): RefreshEventInput {
  return {
    causes: ["due"],
    readyBefore: READY,
    readyAfter: true,
    routineEvents: false,
    subject: SUBJECT,
    ...overrides,
  };
}

describe("refreshEvent", () => {
  test("a scheduled refresh of a Ready resource writes no event by default", () => {
    assert.equal(refreshEvent(input()), undefined);
  });

  test("a scheduled refresh of a Ready resource writes Refreshed with --refresh-events", () => {
    assert.deepEqual(refreshEvent(input({ routineEvents: true })), {
      reason: "Refreshed",
      message: `Refreshed ${SUBJECT} (the refresh time was reached)`,
    });
  });

  test("a resource without a Ready condition yet counts as Ready", () => {
    assert.equal(refreshEvent(input({ readyBefore: undefined })), undefined);
  });

  test("the first Secret writes Created, whether or not routine events are on", () => {
    for (const routineEvents of [false, true]) {
      assert.deepEqual(refreshEvent(input({ causes: ["missing"], readyBefore: undefined, routineEvents })), {
        reason: "Created",
        message: `Created ${SUBJECT} (the Secret did not exist)`,
      });
    }
  });

  test("the first Secret after a failure is still Created, not Recovered", () => {
    assert.equal(refreshEvent(input({ causes: ["missing"], readyBefore: DENIED }))?.reason, "Created");
  });

  const notRoutine: [RefreshCause, string][] = [
    ["spec-changed", "the spec changed"],
    ["forced", "a refresh was forced"],
    ["drift", "the Secret had been changed by someone else"],
    ["expired", "the credentials had expired"],
  ];
  for (const [cause, text] of notRoutine) {
    test(`a refresh because ${text} writes Refreshed by default`, () => {
      assert.deepEqual(refreshEvent(input({ causes: [cause] })), {
        reason: "Refreshed",
        message: `Refreshed ${SUBJECT} (${text})`,
      });
    });
  }

  test("the first success after a failure writes Recovered, naming the failure", () => {
    assert.deepEqual(refreshEvent(input({ readyBefore: DENIED })), {
      reason: "Recovered",
      message: `Refreshed ${SUBJECT} after AccessDenied (the refresh time was reached)`,
    });
  });

  test("a recovery from a condition without a reason names none", () => {
    assert.deepEqual(refreshEvent(input({ readyBefore: { status: "Unknown", reason: undefined } })), {
      reason: "Recovered",
      message: `Refreshed ${SUBJECT} (the refresh time was reached)`,
    });
  });

  test("a refresh that leaves the resource not Ready (a fan-out still failing somewhere) is not routine", () => {
    assert.equal(refreshEvent(input({ readyAfter: false }))?.reason, "Refreshed");
    assert.equal(refreshEvent(input({ readyBefore: DENIED, readyAfter: false }))?.reason, "Refreshed");
  });

  test("a fan-out refresh that also writes a new namespace's copy is not routine", () => {
    assert.equal(refreshEvent(input({ causes: ["due", "missing"] }))?.reason, "Refreshed");
    assert.equal(refreshEvent(input({ causes: ["due", "due"] })), undefined);
  });
});

describe("isRoutineRefresh", () => {
  const table: [string, Pick<RefreshEventInput, "causes" | "readyBefore" | "readyAfter">, boolean][] = [
    ["due, Ready before and after", { causes: ["due"], readyBefore: READY, readyAfter: true }, true],
    ["due, no condition before", { causes: ["due"], readyBefore: undefined, readyAfter: true }, true],
    ["due, not Ready before", { causes: ["due"], readyBefore: DENIED, readyAfter: true }, false],
    ["due, not Ready after", { causes: ["due"], readyBefore: READY, readyAfter: false }, false],
    ["expired", { causes: ["expired"], readyBefore: READY, readyAfter: true }, false],
    ["missing", { causes: ["missing"], readyBefore: READY, readyAfter: true }, false],
    ["due and drift copies", { causes: ["due", "drift"], readyBefore: READY, readyAfter: true }, false],
  ];
  for (const [name, given, expected] of table) {
    test(`${name}: ${expected ? "routine" : "not routine"}`, () => {
      assert.equal(isRoutineRefresh(given), expected);
    });
  }
});
