import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CredentialCache, freshUntil, usableUntil } from "./cache.ts";

const MIN = 60_000;

describe("freshUntil (how long an answer is served without asking the authority)", () => {
  const now = 1_000_000_000;
  const cases: [string, number, number | undefined][] = [
    ["one hour left: half of it", 60 * MIN, now + 30 * MIN],
    ["fifteen minutes left: half of it", 15 * MIN, now + 7.5 * MIN],
    ["three minutes left: half of it", 3 * MIN, now + 1.5 * MIN],
    ["exactly two minutes left: one minute, where both rules meet", 2 * MIN, now + 1 * MIN],
    ["just under two minutes left: not cached", 2 * MIN - 1, undefined],
    ["already expired: not cached", -MIN, undefined],
  ];
  for (const [what, remaining, expected] of cases) {
    test(what, () => assert.equal(freshUntil(now + remaining, now), expected));
  }
  test("an answer may stand in for the authority until one minute before it expires", () => {
    assert.equal(usableUntil(now + 60 * MIN), now + 59 * MIN);
  });
});

describe("CredentialCache", () => {
  const now = 1_000_000_000;
  test("serves an entry while fresh, keeps it usable until a minute before expiry, then drops it", () => {
    const cache = new CredentialCache(10);
    assert.equal(cache.put("k", "{}", now + 60 * MIN, now), true);
    assert.equal(cache.fresh("k", now + 29 * MIN)?.body, "{}");
    assert.equal(cache.fresh("k", now + 30 * MIN), undefined);
    assert.equal(cache.usable("k", now + 58 * MIN)?.body, "{}");
    assert.equal(cache.usable("k", now + 59 * MIN), undefined);
    assert.equal(cache.size, 0);
  });
  test("does not store an answer that expires within two minutes, and forgets an older one for that key", () => {
    const cache = new CredentialCache(10);
    cache.put("k", "old", now + 60 * MIN, now);
    assert.equal(cache.put("k", "new", now + MIN, now), false);
    assert.equal(cache.usable("k", now), undefined);
  });
  test("holds at most maxEntries, the one stored longest ago goes first", () => {
    const cache = new CredentialCache(2);
    cache.put("a", "A", now + 60 * MIN, now);
    cache.put("b", "B", now + 60 * MIN, now);
    cache.put("a", "A2", now + 60 * MIN, now); // stored again: now the newest
    cache.put("c", "C", now + 60 * MIN, now);
    assert.equal(cache.size, 2);
    assert.equal(cache.fresh("b", now), undefined);
    assert.equal(cache.fresh("a", now)?.body, "A2");
    assert.equal(cache.fresh("c", now)?.body, "C");
  });
  test("prune drops the entries past their usable time only", () => {
    const cache = new CredentialCache(10);
    cache.put("short", "S", now + 10 * MIN, now);
    cache.put("long", "L", now + 60 * MIN, now);
    assert.equal(cache.prune(now + 9 * MIN), 1);
    assert.equal(cache.size, 1);
    assert.equal(cache.usable("long", now + 9 * MIN)?.body, "L");
  });
});
