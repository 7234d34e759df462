// The finalizer helper: added before the first apply, cleanup then removal on deletion, removal after a successful
// apply once the object no longer needs it, and never removed when the cleanup or that apply failed.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { finalizer } from "./finalizer.ts";
import type { FinalizerOptions } from "./finalizer.ts";
import { done, temporaryError } from "./result.ts";
import type { ReconcileResult } from "./result.ts";

const F = "example.com/cleanup";

function run(
  metadata: FinalizerOptions["metadata"],
  options: { needed?: boolean; result?: ReconcileResult } = {},
) {
  const calls: string[] = [];
  const writes: string[][] = [];
  const result = finalizer({
    finalizer: F,
    metadata,
    ...(options.needed !== undefined ? { needed: options.needed } : {}),
    setFinalizers: (finalizers) => {
      writes.push(finalizers);
      return Promise.resolve();
    },
    apply: () => {
      calls.push("apply");
      return Promise.resolve(options.result ?? done());
    },
    cleanup: () => {
      calls.push("cleanup");
      return Promise.resolve(options.result ?? done());
    },
  });
  return { result, calls, writes };
}

const failure = temporaryError(new Error("boom"));
const deleting = "2030-01-01T00:00:00Z";

describe("finalizer", () => {
  const cases: {
    name: string;
    metadata: FinalizerOptions["metadata"];
    needed?: boolean;
    result?: ReconcileResult;
    calls: string[];
    writes: string[][];
  }[] = [
    { name: "adds the finalizer before the first apply", metadata: {}, calls: [], writes: [[F]] },
    {
      name: "applies once the finalizer is there",
      metadata: { finalizers: [F] },
      calls: ["apply"],
      writes: [],
    },
    {
      name: "keeps other finalizers when adding",
      metadata: { finalizers: ["other"] },
      calls: [],
      writes: [["other", F]],
    },
    {
      name: "on deletion: cleanup, then the finalizer goes (others stay)",
      metadata: { finalizers: ["other", F], deletionTimestamp: deleting },
      calls: ["cleanup"],
      writes: [["other"]],
    },
    {
      name: "on deletion without the finalizer: nothing to do",
      metadata: { deletionTimestamp: deleting },
      calls: [],
      writes: [],
    },
    {
      name: "a failed cleanup keeps the finalizer",
      metadata: { finalizers: [F], deletionTimestamp: deleting },
      result: failure,
      calls: ["cleanup"],
      writes: [],
    },
    {
      name: "no longer needed: apply undoes, then the finalizer goes",
      metadata: { finalizers: [F] },
      needed: false,
      calls: ["apply"],
      writes: [[]],
    },
    {
      name: "no longer needed but apply failed: the finalizer stays",
      metadata: { finalizers: [F] },
      needed: false,
      result: failure,
      calls: ["apply"],
      writes: [],
    },
    {
      name: "never needed: apply without a finalizer",
      metadata: {},
      needed: false,
      calls: ["apply"],
      writes: [],
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const r = run(c.metadata, {
        ...(c.needed !== undefined ? { needed: c.needed } : {}),
        ...(c.result ? { result: c.result } : {}),
      });
      await r.result;
      assert.deepEqual(r.calls, c.calls);
      assert.deepEqual(r.writes, c.writes);
    });
  }
});
