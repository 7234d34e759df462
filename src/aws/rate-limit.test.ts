import { afterEach, beforeEach, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { RateLimiters, TokenBucket } from "./rate-limit.ts";

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

// mock.timers.tick(n) moves the clock to the end before running due timers, which looks like one timer firing
// late; advance in 1 ms steps so timers fire when they are due, as with a real clock.
function advance(ms: number): void {
  for (let i = 0; i < ms; i++) mock.timers.tick(1);
}

/** Start `n` takes and report how many have resolved, in which order. */
function takeMany(bucket: TokenBucket, n: number): number[] {
  const resolved: number[] = [];
  for (let i = 0; i < n; i++) void bucket.take().then(() => resolved.push(i));
  return resolved;
}

describe("TokenBucket", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 }));
  afterEach(() => mock.timers.reset());

  test("allows a full burst at once and makes the next caller wait", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5 });
    const resolved = takeMany(bucket, 6);
    await settle();
    assert.equal(resolved.length, 5);
    assert.equal(bucket.waiting(), 1);
  });

  test("after the burst, takes resolve at the configured rate", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5 });
    const resolved = takeMany(bucket, 30);
    await settle();
    assert.equal(resolved.length, 5);
    advance(99);
    await settle();
    assert.equal(resolved.length, 5, "no token before 100 ms at 10/s");
    advance(1);
    await settle();
    assert.equal(resolved.length, 6);
    advance(900);
    await settle();
    assert.equal(resolved.length, 15, "10 more in the first second");
    advance(1_000);
    await settle();
    assert.equal(resolved.length, 25);
    advance(10_000);
    await settle();
    assert.equal(resolved.length, 30);
  });

  test("a non-integer interval per token keeps the long-run rate", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 3, burst: 1 });
    const resolved = takeMany(bucket, 40);
    await settle();
    for (let second = 1; second <= 10; second++) {
      advance(1_000);
      await settle();
      // Never more than the burst plus 3/s; timers round up to whole ms, so the latest token may lag a little.
      assert.ok(resolved.length <= 1 + 3 * second, `too many at ${second}s: ${resolved.length}`);
      assert.ok(resolved.length >= 3 * second, `too few at ${second}s: ${resolved.length}`);
    }
    advance(5);
    await settle();
    assert.equal(resolved.length, 31);
  });

  test("a timer that fires late does not lose the tokens waiters reserved", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 1 });
    const resolved = takeMany(bucket, 25);
    mock.timers.tick(2_000); // one late wake-up for the whole interval
    await settle();
    assert.equal(resolved.length, 21);
  });

  test("waiters are served in the order they called take", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 2 });
    const resolved = takeMany(bucket, 12);
    advance(1_000);
    await settle();
    assert.deepEqual(resolved, [...Array(12).keys()]);
  });

  test("tryTake does not jump ahead of a waiter even when a token has refilled", async () => {
    let now = 0;
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1, now: () => now });
    assert.equal(bucket.tryTake(), true);
    let served = false;
    void bucket.take().then(() => (served = true));
    now = 2_000; // the waiter is due and a second token has refilled, but its timer has not fired yet
    assert.equal(bucket.tryTake(), false);
    mock.timers.tick(1_000);
    await settle();
    assert.equal(served, true);
    assert.equal(bucket.tryTake(), true, "the second token is free once the waiter is served");
    assert.equal(bucket.tryTake(), false);
  });

  test("tryTake spends the burst, then refuses until a token refills", () => {
    let now = 0;
    const bucket = new TokenBucket({ ratePerSecond: 4, burst: 2, now: () => now });
    assert.equal(bucket.tryTake(), true);
    assert.equal(bucket.tryTake(), true);
    assert.equal(bucket.tryTake(), false);
    now = 249;
    assert.equal(bucket.tryTake(), false);
    now = 250;
    assert.equal(bucket.tryTake(), true);
  });

  test("an idle bucket refills only up to burst", () => {
    let now = 0;
    const bucket = new TokenBucket({ ratePerSecond: 100, burst: 3, now: () => now });
    while (bucket.tryTake());
    now = 3_600_000;
    let taken = 0;
    while (bucket.tryTake()) taken++;
    assert.equal(taken, 3);
  });

  test("many waiters share one timer for the head waiter", async () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 1 });
    const setTimeoutSpy = mock.method(globalThis, "setTimeout");
    const resolved = takeMany(bucket, 101);
    await settle();
    assert.equal(resolved.length, 1);
    assert.equal(setTimeoutSpy.mock.callCount(), 1);
    mock.timers.tick(100);
    await settle();
    assert.equal(resolved.length, 2);
    assert.equal(setTimeoutSpy.mock.callCount(), 2);
    setTimeoutSpy.mock.restore();
  });

  test("rejects a rate or burst that cannot work", () => {
    assert.throws(() => new TokenBucket({ ratePerSecond: 0, burst: 1 }), RangeError);
    assert.throws(() => new TokenBucket({ ratePerSecond: Number.NaN, burst: 1 }), RangeError);
    assert.throws(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }), RangeError);
  });
});

describe("RateLimiters", () => {
  test("uses the default rate and burst per AWS API", () => {
    const limiters = new RateLimiters();
    const pick = (b: TokenBucket) => ({ ratePerSecond: b.ratePerSecond, burst: b.burst });
    assert.deepEqual(pick(limiters.limiter("sts:AssumeRole")), { ratePerSecond: 20, burst: 40 });
    assert.deepEqual(pick(limiters.limiter("ecr:GetAuthorizationToken")), { ratePerSecond: 10, burst: 20 });
    assert.deepEqual(pick(limiters.limiter("sts:GetCallerIdentity")), { ratePerSecond: 5, burst: 5 });
  });

  test("config overrides the given fields and keeps defaults for the rest", () => {
    const limiters = new RateLimiters({
      "sts:AssumeRole": { ratePerSecond: 50 },
      "ecr:GetAuthorizationToken": { ratePerSecond: 1, burst: 2 },
    });
    const assume = limiters.limiter("sts:AssumeRole");
    assert.equal(assume.ratePerSecond, 50);
    assert.equal(assume.burst, 40);
    const ecr = limiters.limiter("ecr:GetAuthorizationToken");
    assert.equal(ecr.ratePerSecond, 1);
    assert.equal(ecr.burst, 2);
  });

  test("returns the same bucket for an API and separate buckets for different APIs", () => {
    const now = 0;
    const limiters = new RateLimiters({}, { now: () => now });
    assert.equal(limiters.limiter("sts:GetCallerIdentity"), limiters.limiter("sts:GetCallerIdentity"));
    for (let i = 0; i < 5; i++) assert.equal(limiters.limiter("sts:GetCallerIdentity").tryTake(), true);
    assert.equal(limiters.limiter("sts:GetCallerIdentity").tryTake(), false);
    assert.equal(limiters.limiter("sts:AssumeRole").tryTake(), true);
  });
});
