// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { CallerIdentity } from "./naming.ts";
import { globMatches, isRolePermitted, permittedPatterns } from "./namespace-permissions.ts";

const identity: CallerIdentity = { partition: "aws", account: "123456789012", assumedRole: false };
const own = (name: string) => `arn:aws:iam::123456789012:role/${name}`;

describe("permittedPatterns", () => {
  test("no annotation, an empty one or one of only commas permits nothing", () => {
    for (const annotation of [undefined, "", " ", ", ,"]) {
      assert.deepEqual(permittedPatterns(annotation, identity), [], JSON.stringify(annotation));
    }
  });

  test("turns role names into ARNs in the operator's partition and account, and keeps ARNs as they are", () => {
    assert.deepEqual(permittedPatterns(" reader , team/app-* ,arn:aws:iam::210987654321:role/x", identity), [
      own("reader"),
      own("team/app-*"),
      "arn:aws:iam::210987654321:role/x",
    ]);
  });

  test("uses the operator's partition for role names", () => {
    const cn: CallerIdentity = { partition: "aws-cn", account: "123456789012", assumedRole: true };
    assert.deepEqual(permittedPatterns("reader", cn), ["arn:aws-cn:iam::123456789012:role/reader"]);
  });
});

describe("globMatches", () => {
  const cases: [string, string, boolean][] = [
    ["arn:aws:iam::123456789012:role/app-*", own("app-reader"), true],
    ["arn:aws:iam::123456789012:role/app-*", own("app-"), true],
    ["arn:aws:iam::123456789012:role/app-*", own("admin"), false],
    ["arn:aws:iam::123456789012:role/app-*", "arn:aws:iam::210987654321:role/app-reader", false],
    ["arn:aws:iam::*:role/app-*", "arn:aws:iam::210987654321:role/app-reader", true],
    ["arn:aws:iam::123456789012:role/*", own("team/app/r"), true],
    ["arn:aws:iam::123456789012:role/app-?", own("app-1"), true],
    ["arn:aws:iam::123456789012:role/app-?", own("app-12"), false],
    // Regular-expression characters in a pattern are literal.
    ["arn:aws:iam::123456789012:role/a.b", own("a.b"), true],
    ["arn:aws:iam::123456789012:role/a.b", own("axb"), false],
    ["arn:aws:iam::123456789012:role/a+b", own("a+b"), true],
    ["arn:aws:iam::123456789012:role/a+b", own("aab"), false],
    ["arn:aws:iam::123456789012:role/(x|y)", own("x"), false],
    // The whole ARN must match, not a part of it.
    ["arn:aws:iam::123456789012:role/app", own("app-admin"), false],
    ["role/app", own("app"), false],
    // A pattern for the aws partition does not match another partition.
    ["arn:aws:iam::123456789012:role/app", "arn:aws-cn:iam::123456789012:role/app", false],
  ];
  for (const [pattern, value, expected] of cases) {
    test(`${pattern} ${expected ? "matches" : "does not match"} ${value}`, () => {
      assert.equal(globMatches(pattern, value), expected);
    });
  }
});

describe("isRolePermitted", () => {
  const patterns = permittedPatterns("reader, arn:aws:iam::123456789012:role/app-*", identity);

  test("permits a role named in the annotation and one matching an ARN glob", () => {
    assert.ok(isRolePermitted(own("reader"), patterns));
    assert.ok(isRolePermitted(own("app-writer"), patterns));
  });

  test("does not permit a role no entry matches, nor a same-named role in another account", () => {
    assert.ok(!isRolePermitted(own("admin"), patterns));
    assert.ok(!isRolePermitted(own("reader-admin"), patterns));
    assert.ok(!isRolePermitted("arn:aws:iam::210987654321:role/reader", patterns));
  });

  test("permits nothing with no patterns", () => {
    assert.ok(!isRolePermitted(own("reader"), []));
  });
});
