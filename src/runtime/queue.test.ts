import { afterEach, beforeEach, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { done, requeueAfter } from "./result.ts";
import { gatedHandler, queue, settle } from "./queue.fakes.ts";

describe("WorkQueue", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 }));
  afterEach(() => mock.timers.reset());

  test("a key added several times while waiting is queued and handled once", async () => {
    const h = gatedHandler();
    const q = queue({ handler: h.handler });
    q.add("ns/a");
    q.add("ns/a");
    q.add("ns/a");
    assert.equal(q.depth(), 1);
    q.start();
    await settle();
    h.release("ns/a");
    await settle();
    assert.deepEqual(h.calls, ["ns/a"]);
    assert.equal(q.inFlight(), 0);
  });

  test("a key added while running is not run twice at once and runs again after the current run", async () => {
    const h = gatedHandler();
    const q = queue({ concurrency: 4, handler: h.handler });
    q.start();
    q.add("ns/a");
    await settle();
    q.add("ns/a");
    q.add("ns/a");
    await settle();
    assert.deepEqual(h.calls, ["ns/a"], "re-added key must wait for the running one");
    assert.equal(q.inFlight(), 1);
    assert.equal(q.depth(), 0);
    h.release("ns/a");
    await settle();
    assert.deepEqual(h.calls, ["ns/a", "ns/a"], "dirty key runs again once");
    h.release("ns/a");
    await settle();
    assert.deepEqual(h.calls, ["ns/a", "ns/a"]);
    assert.equal(h.overlap(), false);
  });

  test("never runs more than `concurrency` handlers at once and runs every key", async () => {
    const h = gatedHandler();
    const q = queue({ concurrency: 3, handler: h.handler });
    q.start();
    for (let i = 0; i < 10; i++) q.add(`ns/k${i}`);
    await settle();
    assert.equal(q.inFlight(), 3);
    assert.equal(q.depth(), 7);
    while (h.pending.length > 0) {
      h.release();
      await settle();
    }
    assert.equal(h.maxRunning(), 3);
    assert.equal(h.calls.length, 10);
  });

  test("ready keys run in FIFO order", async () => {
    const order: string[] = [];
    const q = queue({
      handler: async (key) => {
        order.push(key);
        return done();
      },
    });
    for (const k of ["c", "a", "b", "a"]) q.add(k);
    q.start();
    await settle();
    assert.deepEqual(order, ["c", "a", "b"]);
  });

  test("a later addAfter does not postpone an earlier one", async () => {
    const h = gatedHandler();
    const q = queue({ handler: h.handler });
    q.start();
    q.addAfter("ns/a", 1_000);
    q.addAfter("ns/a", 5_000);
    assert.equal(q.pendingDelayed(), 1);
    mock.timers.tick(999);
    await settle();
    assert.equal(h.calls.length, 0);
    mock.timers.tick(1);
    await settle();
    assert.deepEqual(h.calls, ["ns/a"]);
    assert.equal(q.pendingDelayed(), 0);
  });

  test("an earlier addAfter replaces a later one, which then never fires", async () => {
    const calls: number[] = [];
    const q = queue({
      handler: async () => {
        calls.push(Date.now());
        return done();
      },
    });
    q.start();
    q.addAfter("ns/a", 5_000);
    q.addAfter("ns/a", 1_000);
    assert.equal(q.pendingDelayed(), 1);
    mock.timers.tick(1_000);
    await settle();
    mock.timers.tick(10_000);
    await settle();
    assert.deepEqual(calls, [1_000]);
  });

  test("addAfter with zero delay adds now", async () => {
    const h = gatedHandler();
    const q = queue({ handler: h.handler });
    q.start();
    q.addAfter("ns/a", 0);
    await settle();
    assert.deepEqual(h.calls, ["ns/a"]);
  });

  test("a requeueAfter result runs the key again after that delay", async () => {
    const calls: number[] = [];
    const q = queue({
      handler: async () => {
        calls.push(Date.now());
        return calls.length < 3 ? requeueAfter(30_000) : done();
      },
    });
    q.start();
    q.add("ns/a");
    await settle();
    mock.timers.tick(29_999);
    await settle();
    assert.deepEqual(calls, [0]);
    mock.timers.tick(1);
    await settle();
    mock.timers.tick(30_000);
    await settle();
    mock.timers.tick(100_000);
    await settle();
    assert.deepEqual(calls, [0, 30_000, 60_000]);
    assert.equal(q.pendingDelayed(), 0);
  });
});
