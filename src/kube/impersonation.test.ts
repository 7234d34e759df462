// The Impersonate-* headers of an impersonation, named and escaped as client-go sends them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { impersonationHeaders } from "./impersonation.ts";

describe("impersonationHeaders", () => {
  it("a user, a uid, one header per group and per extra value", () => {
    assert.deepEqual(
      impersonationHeaders({
        user: "jane",
        uid: "42",
        groups: ["g1", "g2"],
        extra: { scopes: ["view", "edit"] },
      }),
      {
        "Impersonate-User": "jane",
        "Impersonate-Uid": "42",
        "Impersonate-Group": ["g1", "g2"],
        "Impersonate-Extra-scopes": ["view", "edit"],
      },
    );
  });

  it("nothing for what is not set", () => {
    assert.deepEqual(impersonationHeaders({ user: "jane", groups: [], extra: { none: [] } }), {
      "Impersonate-User": "jane",
    });
  });

  for (const [key, name] of [
    ["acme.com/project", "acme.com%2Fproject"],
    ["a b(c)", "a%20b%28c%29"],
    ["100%", "100%25"],
    ["ünï", "%C3%BCn%C3%AF"],
    ["keep-these_.~!*'", "keep-these_.~!*'"],
  ] as const)
    it(`an extra's key ${JSON.stringify(key)} becomes the header name's ${JSON.stringify(name)}`, () => {
      assert.deepEqual(Object.keys(impersonationHeaders({ user: "u", extra: { [key]: ["v"] } })), [
        "Impersonate-User",
        `Impersonate-Extra-${name}`,
      ]);
    });
});
