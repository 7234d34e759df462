// The work queue's metrics hooks with an injected clock: the wait before a run (client-go's queue_duration), the
// run's duration, and the work in progress the gauges read at scrape time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gatedHandler, queue, settle } from "./queue.fakes.ts";
import type { QueueGauges, QueueMetrics } from "./queue.ts";
import { temporaryError } from "./result.ts";

function recorder() {
  const starts: [string, number][] = [];
  const dones: [string, number, boolean][] = [];
  const retries: string[] = [];
  let gauges: QueueGauges | undefined;
  const metrics: QueueMetrics = {
    attach: (g) => (gauges = g),
    onStart: (key, waitedMs) => starts.push([key, waitedMs]),
    onDone: (key, ms, ok) => dones.push([key, ms, ok]),
    onRetry: (key) => retries.push(key),
  };
  return { metrics, starts, dones, retries, gauges: () => gauges! };
}

test("a run reports how long its key waited since it was added, and how long it ran", async () => {
  let now = 1_000;
  const h = gatedHandler();
  const r = recorder();
  const q = queue({ handler: h.handler, metrics: r.metrics, now: () => now });
  q.add("ns/a");
  q.add("ns/b");
  now += 250;
  q.start();
  await settle();
  assert.deepEqual(r.starts, [["ns/a", 250]], "ns/a waited 250 ms; ns/b still waits for the one worker");
  now += 40;
  h.release("ns/a");
  await settle();
  assert.deepEqual(r.starts, [
    ["ns/a", 250],
    ["ns/b", 290],
  ]);
  assert.deepEqual(r.dones, [["ns/a", 40, true]]);
});

test("a key added while it runs waits from that add, not from its first one", async () => {
  let now = 0;
  const h = gatedHandler();
  const r = recorder();
  const q = queue({ handler: h.handler, metrics: r.metrics, now: () => now });
  q.start();
  q.add("ns/a");
  await settle();
  now = 100;
  q.add("ns/a"); // marked dirty while running
  now = 130;
  h.release("ns/a");
  await settle();
  assert.deepEqual(r.starts, [
    ["ns/a", 0],
    ["ns/a", 30],
  ]);
});

test("the gauges read the depth and the work in progress: summed over runs, and the longest", async () => {
  let now = 0;
  const h = gatedHandler();
  const r = recorder();
  const q = queue({ concurrency: 2, handler: h.handler, metrics: r.metrics, now: () => now });
  const gauges = r.gauges();
  assert.ok(gauges, "the queue attaches its gauges when built");
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/c");
  assert.equal(gauges.depth(), 3);
  assert.deepEqual(gauges.unfinishedWork(), { totalMs: 0, longestMs: 0 }, "nothing runs yet");
  q.start();
  await settle();
  assert.equal(gauges.depth(), 1, "two run, one waits");
  now = 1_000;
  assert.deepEqual(gauges.unfinishedWork(), { totalMs: 2_000, longestMs: 1_000 });
  h.release("ns/a");
  await settle();
  now = 1_500;
  assert.deepEqual(
    gauges.unfinishedWork(),
    { totalMs: 1_500 + 500, longestMs: 1_500 },
    "ns/b has run 1.5 s, ns/c (started at 1 s) 0.5 s",
  );
  h.release("ns/b");
  h.release("ns/c");
  await settle();
  assert.deepEqual(gauges.unfinishedWork(), { totalMs: 0, longestMs: 0 }, "observed runs leave the gauges");
  assert.equal(gauges.depth(), 0);
});

test("a failed run is reported as not ok and retried", async () => {
  let now = 0;
  const h = gatedHandler();
  const r = recorder();
  const q = queue({
    handler: h.handler,
    metrics: r.metrics,
    now: () => now,
    backoff: { baseMs: 60_000, maxMs: 60_000 },
  });
  q.start();
  q.add("ns/a");
  await settle();
  now = 7;
  h.release("ns/a", temporaryError(new Error("boom")));
  await settle();
  assert.deepEqual(r.dones, [["ns/a", 7, false]]);
  assert.deepEqual(r.retries, ["ns/a"]);
  assert.equal(q.pendingDelayed(), 1, "the retry waits for its backoff");
  await q.shutdown();
});
