import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PermittedRolesWatch } from "./permitted-roles.ts";

describe("PermittedRolesWatch", () => {
  test("reports a new namespace and a changed annotation, not a repeat", () => {
    const w = new PermittedRolesWatch();
    assert.equal(w.changed("a", undefined), true);
    assert.equal(w.changed("a", undefined), false);
    assert.equal(w.changed("a", "role-*"), true);
    assert.equal(w.changed("a", "role-*"), false);
  });

  test("shrinks when namespaces are deleted", () => {
    const w = new PermittedRolesWatch();
    for (let i = 0; i < 100; i++) w.changed(`ns-${i}`, "role-*");
    for (let i = 0; i < 100; i++) w.deleted(`ns-${i}`);
    assert.equal(w.size, 0);
    assert.equal(w.changed("ns-1", "role-*"), true, "a namespace created again under the same name is new");
  });
});
