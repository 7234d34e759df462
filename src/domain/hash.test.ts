// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fnv1a32, mixedHash32 } from "./hash.ts";

describe("fnv1a32", () => {
  // Reference vectors from the FNV specification's test suite.
  const vectors: [string, number][] = [
    ["", 0x811c9dc5],
    ["a", 0xe40c292c],
    ["foobar", 0xbf9cf968],
  ];
  for (const [input, expected] of vectors) {
    test(`hashes ${JSON.stringify(input)} to the published value`, () => {
      assert.equal(fnv1a32(input), expected);
    });
  }

  test("hashes the UTF-8 bytes of non-ASCII text, not its UTF-16 code units", () => {
    // é is C3 A9 in UTF-8 (hash 0x1e9de8c1); hashing the code unit E9 would give 0x6c0b6c44.
    assert.equal(fnv1a32("é"), 0x1e9de8c1);
  });
});

describe("mixedHash32", () => {
  test("is deterministic and an unsigned 32-bit integer", () => {
    const h = mixedHash32("uid-1");
    assert.equal(h, mixedHash32("uid-1"));
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
  });

  test("moves the top byte for seeds that differ only in their last character", () => {
    const tops = new Set(["a", "b", "c", "d", "e", "f", "g", "h"].map((c) => mixedHash32(`uid-${c}`) >>> 24));
    assert.ok(tops.size >= 6, `only ${tops.size} distinct top bytes`);
  });
});
