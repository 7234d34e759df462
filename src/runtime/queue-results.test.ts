import { afterEach, beforeEach, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { done, requeueAfter, temporaryError, terminalError } from "./result.ts";
import { gatedHandler, queue, settle } from "./queue.fakes.ts";

describe("WorkQueue: results, retries, hooks and shutdown", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 }));
  afterEach(() => mock.timers.reset());

  test("retry delay grows exponentially, is capped at maxMs and resets after a success", async () => {
    const delays: number[] = [];
    let failuresLeft = 6;
    const q = queue({
      backoff: { baseMs: 100, maxMs: 1_000 },
      random: () => 0.5,
      metrics: { onRetry: (_key, delayMs) => delays.push(delayMs) },
      handler: async () => {
        if (failuresLeft-- > 0) throw new Error("boom");
        return done();
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    for (let i = 0; i < 6; i++) {
      mock.timers.tick(delays.at(-1)!);
      await settle();
    }
    assert.deepEqual(delays, [50, 100, 200, 400, 500, 500]);
    failuresLeft = 1;
    q.add("ns/a");
    await settle();
    assert.deepEqual(delays.slice(6), [50], "failure count resets after a success");
  });

  test("a requeueAfter result also resets the failure count", async () => {
    const delays: number[] = [];
    const results: ("fail" | "requeue")[] = ["fail", "fail", "requeue", "fail"];
    const q = queue({
      backoff: { baseMs: 100, maxMs: 10_000 },
      random: () => 1,
      metrics: { onRetry: (_key, delayMs) => delays.push(delayMs) },
      handler: async () => {
        if (results.shift() === "fail") throw new Error("boom");
        return requeueAfter(10);
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    mock.timers.tick(100);
    await settle();
    mock.timers.tick(200);
    await settle();
    mock.timers.tick(10);
    await settle();
    assert.deepEqual(delays, [100, 200, 100]);
  });

  test("a temporary error with retryAfterMs is retried after that delay instead of the backoff", async () => {
    const calls: number[] = [];
    const delays: number[] = [];
    const q = queue({
      backoff: { baseMs: 100, maxMs: 1_000 },
      random: () => 0.5,
      metrics: { onRetry: (_key, delayMs) => delays.push(delayMs) },
      handler: async () => {
        calls.push(Date.now());
        if (calls.length === 1) return temporaryError(new Error("throttled"), { retryAfterMs: 7_000 });
        return done();
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    mock.timers.tick(6_999);
    await settle();
    assert.deepEqual(calls, [0]);
    mock.timers.tick(1);
    await settle();
    assert.deepEqual(calls, [0, 7_000]);
    assert.deepEqual(delays, [7_000]);
  });

  test("a temporary error with maxBackoffMs backs off exponentially up to that cap instead of maxMs", async () => {
    const delays: number[] = [];
    const q = queue({
      backoff: { baseMs: 100, maxMs: 200 },
      random: () => 1,
      metrics: { onRetry: (_key, delayMs) => delays.push(delayMs) },
      handler: async () => temporaryError(new Error("expiry in the past"), { maxBackoffMs: 1_000 }),
    });
    q.start();
    q.add("ns/a");
    await settle();
    for (let i = 0; i < 5; i++) {
      mock.timers.tick(delays.at(-1)!);
      await settle();
    }
    assert.deepEqual(delays, [100, 200, 400, 800, 1_000, 1_000]);
  });

  test("a terminal error with recheckAfterMs looks again after that fixed delay, without backoff growth", async () => {
    const calls: number[] = [];
    const kinds: string[] = [];
    const q = queue({
      backoff: { baseMs: 100, maxMs: 1_000 },
      random: () => 1,
      onError: (_key, _err, kind) => kinds.push(kind),
      handler: async () => {
        calls.push(Date.now());
        return terminalError(new Error("AccessDenied"), 60_000);
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    mock.timers.tick(60_000);
    await settle();
    mock.timers.tick(60_000);
    await settle();
    assert.deepEqual(calls, [0, 60_000, 120_000]);
    assert.deepEqual(kinds, ["terminalError", "terminalError", "terminalError"]);
  });

  test("a terminal error without recheckAfterMs waits for the next add", async () => {
    const calls: number[] = [];
    const q = queue({
      handler: async () => {
        calls.push(Date.now());
        return terminalError(new Error("invalid spec"));
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    mock.timers.tick(3_600_000);
    await settle();
    assert.deepEqual(calls, [0]);
    assert.equal(q.pendingDelayed(), 0);
    q.add("ns/a");
    await settle();
    assert.equal(calls.length, 2);
  });

  test("onError receives the key and the error, and onDone reports duration and outcome", async () => {
    const errors: [string, unknown][] = [];
    const done: [string, number, boolean][] = [];
    const boom = new Error("boom");
    const h = gatedHandler();
    const q = queue({
      handler: h.handler,
      onError: (key, err) => errors.push([key, err]),
      metrics: { onDone: (key, ms, ok) => done.push([key, ms, ok]) },
    });
    q.start();
    q.add("ns/a");
    await settle();
    mock.timers.tick(250);
    h.fail("ns/a", boom);
    await settle();
    q.add("ns/b");
    await settle();
    h.release("ns/b");
    await settle();
    assert.deepEqual(errors, [["ns/a", boom]]);
    assert.deepEqual(done, [
      ["ns/a", 250, false],
      ["ns/b", 0, true],
    ]);
  });

  test("onAdd is called when a key becomes ready, not when it is deduplicated", async () => {
    const added: string[] = [];
    const h = gatedHandler();
    const q = queue({ handler: h.handler, metrics: { onAdd: (key) => added.push(key) } });
    q.add("ns/a");
    q.add("ns/a");
    q.add("ns/b");
    assert.deepEqual(added, ["ns/a", "ns/b"]);
  });

  test("a throwing hook does not stop the queue", async () => {
    const h = gatedHandler();
    const q = queue({
      handler: h.handler,
      metrics: {
        onAdd: () => {
          throw new Error("hook");
        },
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    assert.deepEqual(h.calls, ["ns/a"]);
  });

  test("forget cancels a pending delayed add", async () => {
    const h = gatedHandler();
    const q = queue({ handler: h.handler });
    q.start();
    q.addAfter("ns/a", 1_000);
    q.addAfter("ns/b", 2_000);
    q.forget("ns/a");
    assert.equal(q.pendingDelayed(), 1);
    mock.timers.tick(5_000);
    await settle();
    assert.deepEqual(h.calls, ["ns/b"]);
  });

  test("forget resets the failure count", async () => {
    const delays: number[] = [];
    const q = queue({
      backoff: { baseMs: 100, maxMs: 10_000 },
      random: () => 1,
      metrics: { onRetry: (_key, delayMs) => delays.push(delayMs) },
      handler: async () => {
        throw new Error("boom");
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    mock.timers.tick(100);
    await settle();
    q.forget("ns/a");
    q.add("ns/a");
    await settle();
    assert.deepEqual(delays, [100, 200, 100]);
  });

  test("shutdown waits for in-flight handlers and drops ready and delayed keys", async () => {
    const h = gatedHandler();
    const q = queue({ handler: h.handler });
    q.start();
    q.add("ns/a");
    q.add("ns/b");
    q.addAfter("ns/c", 1_000);
    await settle();
    assert.equal(q.inFlight(), 1);

    let stopped = false;
    const done = q.shutdown().then(() => {
      stopped = true;
    });
    await settle();
    assert.equal(stopped, false, "must wait for the in-flight handler");
    assert.equal(q.depth(), 0);
    assert.equal(q.pendingDelayed(), 0);

    q.add("ns/d");
    h.release("ns/a", requeueAfter(10));
    await done;
    assert.equal(stopped, true);
    mock.timers.tick(10_000);
    await settle();
    assert.deepEqual(h.calls, ["ns/a"]);
    assert.equal(q.pendingDelayed(), 0);
  });

  test("shutdown with nothing in flight resolves at once", async () => {
    const q = queue({ handler: async () => done() });
    q.add("ns/a");
    await q.shutdown();
    assert.equal(q.depth(), 0);
  });

  test("many delayed keys, some rescheduled earlier, each run once in deadline order", async () => {
    const order: string[] = [];
    const q = queue({
      concurrency: 1,
      handler: async (key) => {
        order.push(key);
        return done();
      },
    });
    q.start();
    const n = 5_000;
    const expected = new Map<string, number>();
    // Deterministic pseudo-random deadlines in 1..100_000 ms.
    let seed = 42;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % 100_000;
    for (let i = 0; i < n; i++) {
      const key = `ns/k${i}`;
      const first = next() + 1;
      q.addAfter(key, first);
      const second = next() + 1;
      q.addAfter(key, second);
      expected.set(key, Math.min(first, second));
    }
    assert.equal(q.pendingDelayed(), n);
    for (let t = 0; t < 100_000; t += 1_000) {
      mock.timers.tick(1_000);
      await settle();
    }
    await settle();
    assert.equal(order.length, n, "every key runs exactly once");
    assert.equal(new Set(order).size, n);
    const deadlines = order.map((k) => expected.get(k)!);
    for (let i = 1; i < deadlines.length; i++) {
      assert.ok(deadlines[i - 1]! <= deadlines[i]!, `out of order at ${i}`);
    }
    assert.equal(q.pendingDelayed(), 0);
  });
});
