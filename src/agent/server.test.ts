import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { podTokenOf } from "./server.ts";

describe("podTokenOf", () => {
  const cases: [string | undefined, string | undefined][] = [
    ["eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"],
    ["Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"],
    ["bearer   eyJ.x.y\n", "eyJ.x.y"],
    ["Bearer", undefined],
    ["", undefined],
    [undefined, undefined],
  ];
  for (const [header, expected] of cases) {
    test(`${JSON.stringify(header)} → ${expected ?? "no token"}`, () =>
      assert.equal(podTokenOf(header), expected));
  }
});
