import { test } from "node:test";
import assert from "node:assert/strict";
import type { LabelSelector } from "../api/cluster-schema.ts";
import { selectorMatches } from "./label-selector.ts";

const cases: [string, LabelSelector, Record<string, string> | undefined, boolean][] = [
  ["the empty selector matches a namespace without labels", {}, undefined, true],
  ["the empty selector matches any labels", {}, { a: "1" }, true],
  [
    "matchLabels needs the label with that value",
    { matchLabels: { team: "a" } },
    { team: "a", x: "y" },
    true,
  ],
  ["matchLabels fails on another value", { matchLabels: { team: "a" } }, { team: "b" }, false],
  ["matchLabels fails on a missing label", { matchLabels: { team: "a" } }, {}, false],
  [
    "In holds for a listed value",
    { matchExpressions: [{ key: "env", operator: "In", values: ["dev", "qa"] }] },
    { env: "qa" },
    true,
  ],
  [
    "In fails without the label",
    { matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] },
    {},
    false,
  ],
  [
    "NotIn fails for a listed value",
    { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] },
    { env: "prod" },
    false,
  ],
  [
    "NotIn holds without the label",
    { matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] },
    {},
    true,
  ],
  [
    "Exists needs the key, any value",
    { matchExpressions: [{ key: "pull", operator: "Exists" }] },
    { pull: "" },
    true,
  ],
  ["Exists fails without the key", { matchExpressions: [{ key: "pull", operator: "Exists" }] }, {}, false],
  [
    "DoesNotExist fails with the key",
    { matchExpressions: [{ key: "pull", operator: "DoesNotExist" }] },
    { pull: "x" },
    false,
  ],
  [
    "matchLabels and matchExpressions must all hold",
    { matchLabels: { team: "a" }, matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] },
    { team: "a", env: "prod" },
    false,
  ],
];

for (const [name, selector, labels, expected] of cases) {
  test(name, () => assert.equal(selectorMatches(selector, labels), expected));
}
