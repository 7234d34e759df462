import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatRecord, ownerKey, parseRecord, wirePullSecret } from "./pull-secrets.ts";

const A = ownerKey("AWSAssumeRole", "a");
const B = ownerKey("ClusterAWSAssumeRole", "b");
const refs = (...names: string[]) => names.map((name) => ({ name }));

describe("wirePullSecret", () => {
  test("adds the Secret after the existing entries and records it", () => {
    const w = wirePullSecret(refs("user"), {}, A, "ecr");
    assert.deepEqual(w.imagePullSecrets, refs("user", "ecr"));
    assert.deepEqual(w.record, { [A]: "ecr" });
    assert.equal(w.changed, true);
  });

  test("changes nothing when the recorded entry is in place", () => {
    const w = wirePullSecret(refs("ecr", "user"), { [A]: "ecr" }, A, "ecr");
    assert.deepEqual(w.imagePullSecrets, refs("ecr", "user"));
    assert.equal(w.changed, false);
  });

  test("removes the recorded entry when the owner wants nothing, leaving other entries and their order", () => {
    const w = wirePullSecret(refs("x", "ecr", "y"), { [A]: "ecr" }, A, undefined);
    assert.deepEqual(w.imagePullSecrets, refs("x", "y"));
    assert.deepEqual(w.record, {});
    assert.equal(formatRecord(w.record), undefined);
    assert.equal(w.changed, true);
  });

  test("never records, and so never removes, an entry the user had already", () => {
    const wired = wirePullSecret(refs("ecr"), {}, A, "ecr");
    assert.deepEqual(wired.imagePullSecrets, refs("ecr"));
    assert.deepEqual(wired.record, {});
    assert.equal(wired.changed, false);
    const released = wirePullSecret(wired.imagePullSecrets, wired.record, A, undefined);
    assert.deepEqual(released.imagePullSecrets, refs("ecr"));
    assert.equal(released.changed, false);
  });

  test("a secretName change swaps our entry for the new one", () => {
    const w = wirePullSecret(refs("old", "user"), { [A]: "old" }, A, "new");
    assert.deepEqual(w.imagePullSecrets, refs("user", "new"));
    assert.deepEqual(w.record, { [A]: "new" });
  });

  test("an entry two owners added stays until the last of them lets go", () => {
    const first = wirePullSecret([], {}, A, "ecr");
    const both = wirePullSecret(first.imagePullSecrets, first.record, B, "ecr");
    assert.deepEqual(both.imagePullSecrets, refs("ecr"));
    assert.deepEqual(both.record, { [A]: "ecr", [B]: "ecr" });
    const one = wirePullSecret(both.imagePullSecrets, both.record, A, undefined);
    assert.deepEqual(one.imagePullSecrets, refs("ecr"));
    assert.deepEqual(one.record, { [B]: "ecr" });
    const none = wirePullSecret(one.imagePullSecrets, one.record, B, undefined);
    assert.deepEqual(none.imagePullSecrets, []);
  });

  test("re-adds our entry when someone removed it while we still want it", () => {
    const w = wirePullSecret(refs("user"), { [A]: "ecr" }, A, "ecr");
    assert.deepEqual(w.imagePullSecrets, refs("user", "ecr"));
    assert.equal(w.changed, true);
  });

  test("unknown fields of other entries are carried through", () => {
    const current = [{ name: "user", extra: 1 } as { name: string }];
    const w = wirePullSecret(current, {}, A, "ecr");
    assert.deepEqual(w.imagePullSecrets[0], { name: "user", extra: 1 });
  });
});

describe("the record annotation", () => {
  test("round-trips with sorted keys", () => {
    const text = formatRecord({ [B]: "y", [A]: "x" });
    assert.equal(text, JSON.stringify({ [A]: "x", [B]: "y" }));
    assert.deepEqual(parseRecord(text), { [A]: "x", [B]: "y" });
  });

  test("anything unreadable is no record", () => {
    for (const text of [undefined, "", "not json", "[]", "null", '"x"'])
      assert.deepEqual(parseRecord(text), {});
    assert.deepEqual(parseRecord('{"a":"x","b":2}'), { a: "x" });
  });
});
