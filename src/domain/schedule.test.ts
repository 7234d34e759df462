// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  backoffDelay,
  expirationProblem,
  refreshTime,
  secretExpirationTime,
  servingRefreshTime,
  stableRandom,
} from "./schedule.ts";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;
const HOUR = 60 * MIN;

describe("refreshTime", () => {
  test("refreshes two thirds into the lifetime when the jitter is neutral", () => {
    assert.deepEqual(
      refreshTime({ lastRefreshTime: T0, expirationTime: at(HOUR), random: 0.5 }),
      at(40 * MIN),
    );
  });

  test("applies ratio and jitter exactly: lastRefreshTime + L·ratio + L·jitter·(2r−1)", () => {
    const L = 900_000;
    const cases: [number, number, number, number][] = [
      // ratio, jitterFraction, random, expected offset
      [2 / 3, 0.05, 0, 600_000 - 45_000],
      [2 / 3, 0.05, 0.75, 600_000 + 22_500],
      [0.5, 0.1, 0.25, 450_000 - 45_000],
      [0.5, 0, 0.99, 450_000],
    ];
    for (const [ratio, jitterFraction, random, offset] of cases) {
      assert.deepEqual(
        refreshTime({ lastRefreshTime: T0, expirationTime: at(L), ratio, jitterFraction, random }),
        at(offset),
      );
    }
  });

  test("keeps all jittered times within ±jitterFraction of the lifetime around the target", () => {
    for (let i = 0; i < 100; i++) {
      const t =
        refreshTime({ lastRefreshTime: T0, expirationTime: at(HOUR), random: i / 100 }).getTime() -
        T0.getTime();
      assert.ok(t >= 40 * MIN - 3 * MIN && t <= 40 * MIN + 3 * MIN, `${t}`);
    }
  });

  test("never refreshes later than 60 seconds before expiry", () => {
    const t = refreshTime({
      lastRefreshTime: T0,
      expirationTime: at(HOUR),
      ratio: 1,
      jitterFraction: 0.5,
      random: 0.99,
    });
    assert.deepEqual(t, at(HOUR - MIN));
  });

  test("uses a 10% margin instead when the lifetime is shorter than 10 minutes", () => {
    const t = refreshTime({
      lastRefreshTime: T0,
      expirationTime: at(5 * MIN),
      ratio: 1,
      jitterFraction: 0,
      random: 0.5,
    });
    assert.deepEqual(t, at(4.5 * MIN));
  });

  test("never refreshes before lastRefreshTime", () => {
    const t = refreshTime({
      lastRefreshTime: T0,
      expirationTime: at(HOUR),
      ratio: 0,
      jitterFraction: 0.5,
      random: 0,
    });
    assert.deepEqual(t, T0);
  });

  test("refreshes immediately when the credentials are already expired on issue", () => {
    assert.deepEqual(refreshTime({ lastRefreshTime: T0, expirationTime: at(-1), random: 0.5 }), T0);
  });

  test("rejects a random number outside [0, 1]", () => {
    assert.throws(
      () => refreshTime({ lastRefreshTime: T0, expirationTime: at(HOUR), random: 2 }),
      RangeError,
    );
    assert.throws(
      () => refreshTime({ lastRefreshTime: T0, expirationTime: at(HOUR), random: Number.NaN }),
      RangeError,
    );
  });
});

describe("secretExpirationTime", () => {
  test("is the credentials' expiration when there is no ECR token", () => {
    assert.deepEqual(secretExpirationTime(at(HOUR)), at(HOUR));
  });

  test("is the earlier of the credentials' and the ECR token's expiry", () => {
    assert.deepEqual(secretExpirationTime(at(HOUR), at(30 * MIN)), at(30 * MIN));
    assert.deepEqual(secretExpirationTime(at(HOUR), at(12 * HOUR)), at(HOUR));
  });
});

describe("stableRandom", () => {
  test("is the same for the same seed and in [0, 1)", () => {
    const r = stableRandom("uid-1/2030-01-01T00:00:00Z");
    assert.equal(r, stableRandom("uid-1/2030-01-01T00:00:00Z"));
    assert.ok(r >= 0 && r < 1);
  });

  test("spreads many similar seeds evenly over ten buckets", () => {
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 2000; i++) {
      const r = stableRandom(`3f2a9c1e-0000-4000-8000-${String(i).padStart(12, "0")}/2030-01-01T00:00:00Z`);
      buckets[Math.floor(r * 10)]! += 1;
    }
    for (const count of buckets) assert.ok(count > 140 && count < 260, `uneven buckets ${buckets.join(",")}`);
  });
});

describe("backoffDelay", () => {
  const opts = { baseMs: 1000, maxMs: 60_000 };

  test("is random · base · 2^attempt below the cap", () => {
    assert.equal(backoffDelay(0, { ...opts, random: 0.5 }), 500);
    assert.equal(backoffDelay(3, { ...opts, random: 0.5 }), 4000);
  });

  test("is capped at maxMs for large attempts, even absurdly large ones", () => {
    assert.equal(backoffDelay(10, { ...opts, random: 0.5 }), 30_000);
    assert.equal(backoffDelay(5000, { ...opts, random: 0.999 }), 59_940);
  });

  test("spans the whole range from 0 to the ceiling (full jitter)", () => {
    assert.equal(backoffDelay(2, { ...opts, random: 0 }), 0);
    assert.equal(backoffDelay(2, { ...opts, random: 0.999999 }), 3999);
  });

  test("treats a negative attempt as the first", () => {
    assert.equal(backoffDelay(-3, { ...opts, random: 0.5 }), 500);
  });
});

describe("expirationProblem", () => {
  const cases: [string, Date, number, ReturnType<typeof expirationProblem>][] = [
    ["a normal 15-minute lifetime", at(15 * MIN), 900, undefined],
    ["moto's ECR expiry of 2015", new Date("2015-01-01T00:00:00Z"), 900, "past"],
    ["an expiry exactly now", T0, 900, "past"],
    ["an unparseable expiry", new Date("not a time"), 900, "invalid"],
    ["8 s left of a 900 s request (floor 9 s)", at(8_000), 900, "too-soon"],
    ["10 s left of a 900 s request (floor 9 s)", at(10_000), 900, undefined],
    ["59 s left of a 12 h request (floor 60 s)", at(59_000), 43_200, "too-soon"],
    ["61 s left of a 12 h request (floor 60 s)", at(61_000), 43_200, undefined],
  ];
  for (const [name, expiration, requested, expected] of cases) {
    test(`${name}: ${expected ?? "plausible"}`, () => {
      assert.equal(expirationProblem(expiration, T0, requested), expected);
    });
  }
});

describe("servingRefreshTime", () => {
  const start = new Date("2026-01-01T00:00:00Z");
  const at = (minutes: number) => new Date(start.getTime() + minutes * 60_000);
  const serving = (lifetimeMinutes: number, ratio: number) =>
    servingRefreshTime({
      lastRefreshTime: start,
      expirationTime: at(lifetimeMinutes),
      ratio,
      jitterFraction: 0,
      random: 0.5,
    });

  test("renews at two thirds when that leaves more than 16 minutes", () => {
    assert.deepEqual(serving(60, 2 / 3), at(40));
  });

  test("renews 16 minutes before expiry when the ratio would leave less, so botocore never fetches per call", () => {
    assert.deepEqual(serving(60, 0.9), at(44));
  });

  test("a session too short for the lead keeps the ratio's time", () => {
    assert.deepEqual(serving(15, 2 / 3), at(10));
  });
});
