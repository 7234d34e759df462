import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AgentRefusal, checkAuthorityAnswer, errorAnswer } from "./answers.ts";

const credentials = {
  AccessKeyId: "ASIAEXAMPLE",
  SecretAccessKey: "secret",
  Token: "session",
  Expiration: "2030-01-01T00:00:00Z",
};

describe("checkAuthorityAnswer", () => {
  test("accepts credentials with an RFC 3339 Expiration and passes the body through unchanged", () => {
    const body = JSON.stringify({ ...credentials, AccountId: "123456789012" });
    assert.deepEqual(checkAuthorityAnswer(200, body), {
      kind: "credentials",
      body,
      expirationMs: Date.parse("2030-01-01T00:00:00Z"),
    });
  });
  test("accepts an Expiration with fractions and an offset", () => {
    const body = JSON.stringify({ ...credentials, Expiration: "2030-01-01T01:00:00.123+01:00" });
    const answer = checkAuthorityAnswer(200, body);
    assert.equal(
      answer.kind === "credentials" && answer.expirationMs,
      Date.parse("2030-01-01T00:00:00.123Z"),
    );
  });
  test("passes the authority's refusal through unchanged", () => {
    const body = JSON.stringify({ Code: "NoAssociation", Message: "no association for default/app" });
    assert.deepEqual(checkAuthorityAnswer(404, body), { kind: "refusal", status: 404, body });
  });
  const malformed: [string, number, string][] = [
    ["a body that is not JSON", 200, "<html>"],
    ["a JSON array", 200, "[]"],
    ["credentials without Token", 200, JSON.stringify({ ...credentials, Token: undefined })],
    [
      "credentials with an empty SecretAccessKey",
      200,
      JSON.stringify({ ...credentials, SecretAccessKey: "" }),
    ],
    ["an Expiration that is no time", 200, JSON.stringify({ ...credentials, Expiration: "tomorrow" })],
    ["an Expiration in epoch seconds", 200, JSON.stringify({ ...credentials, Expiration: 1893456000 })],
    ["an AccountId that is a number", 200, JSON.stringify({ ...credentials, AccountId: 123 })],
    ["an error without Code", 403, JSON.stringify({ Message: "no" })],
    ["a redirect", 302, JSON.stringify({ Code: "Found", Message: "elsewhere" })],
  ];
  for (const [what, status, body] of malformed) {
    test(`answers 502 AuthorityUnavailable for ${what}`, () => {
      assert.throws(
        () => checkAuthorityAnswer(status, body),
        (err: unknown) =>
          err instanceof AgentRefusal && err.status === 502 && err.code === "AuthorityUnavailable",
      );
    });
  }
});

describe("errorAnswer", () => {
  test("is the JSON the SDKs expect", () => {
    assert.deepEqual(errorAnswer(401, "MissingToken", "no token"), {
      status: 401,
      body: '{"Code":"MissingToken","Message":"no token"}',
    });
  });
});
