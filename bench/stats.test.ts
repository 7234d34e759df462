import { test } from "node:test";
import assert from "node:assert/strict";
import { histogram, peakInWindow, percentile, perSecond, summarize } from "./stats.ts";

test("percentiles are nearest-rank", () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 95), 95);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.deepEqual(summarize([3, 1, 2]), { count: 3, min: 1, mean: 2, p50: 2, p95: 3, p99: 3, max: 3 });
});

test("the busiest one-second window slides over the events", () => {
  assert.deepEqual(peakInWindow([0, 100, 999, 1000, 1500, 1600, 1700]), { peak: 5, at: 999 });
  assert.deepEqual(peakInWindow([]).peak, 0);
});

test("histograms and per-second counts put each value in one bin", () => {
  const bins = histogram([0, 0.5, 1, 2.9], 1);
  assert.deepEqual(
    bins.map((b) => [b.from, b.count]),
    [
      [0, 2],
      [1, 1],
      [2, 1],
    ],
  );
  assert.deepEqual(perSecond([1000, 1999, 2000, 4500], 1000), [2, 1, 0, 1]);
});
