import { test } from "node:test";
import assert from "node:assert/strict";
import { earliestEcrToken, ecrLoginsOf, ecrRepositoryUrlsOf, ecrTokenRegions } from "./ecr-logins.ts";
import { InvalidEcrRegistryUrlError } from "./naming.ts";

const A = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const B = "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com/v2/charts";
const C = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com";

test("the single URL comes first and repeats are dropped", () => {
  assert.deepEqual(ecrRepositoryUrlsOf({ ecrRepositoryUrl: A, ecrRepositoryUrls: [B, A, C] }), [A, B, C]);
  assert.deepEqual(ecrRepositoryUrlsOf({ ecrRepositoryUrls: [C] }), [C]);
  assert.deepEqual(ecrRepositoryUrlsOf({}), []);
});

test("one token per region, also for registries of two accounts in that region", () => {
  assert.deepEqual(ecrTokenRegions(ecrLoginsOf({ ecrRepositoryUrls: [A, B, C] })), [
    "eu-west-1",
    "us-east-1",
  ]);
});

test("a malformed URL in the list is an InvalidEcrRegistryUrlError", () => {
  assert.throws(
    () => ecrLoginsOf({ ecrRepositoryUrls: [A, "https://example.com"] }),
    InvalidEcrRegistryUrlError,
  );
});

test("the earliest token bounds the lifetime", () => {
  const early = { token: "a", expirationTime: new Date("2030-01-01T01:00:00Z") };
  const late = { token: "b", expirationTime: new Date("2030-01-01T02:00:00Z") };
  assert.equal(earliestEcrToken({ "us-east-1": late, "eu-west-1": early }), early);
  assert.equal(earliestEcrToken({}), undefined);
});
