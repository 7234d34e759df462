// Object keys: namespace/name for namespaced objects, the bare name for cluster-scoped ones, parsed back the same.
import { test } from "node:test";
import assert from "node:assert/strict";
import { keyOf, objectKey, parseKey } from "./object-key.ts";

test("namespaced and cluster-scoped keys format and parse back", () => {
  assert.equal(objectKey("ns", "a"), "ns/a");
  assert.equal(objectKey(undefined, "c"), "c");
  assert.equal(objectKey("", "c"), "c");
  assert.equal(keyOf({ metadata: { namespace: "ns", name: "a" } }), "ns/a");
  assert.equal(keyOf({ metadata: { name: "c" } }), "c");
  assert.deepEqual(parseKey("ns/a"), { namespace: "ns", name: "a" });
  assert.deepEqual(parseKey("c"), { namespace: "", name: "c" });
});
