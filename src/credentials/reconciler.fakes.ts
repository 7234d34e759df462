// Assertions the namespaced reconciler's unit tests share (not part of the build): its Ready condition and the delay
// of a requeueAfter result.
import assert from "node:assert/strict";
import type { ReconcileResult } from "../runtime/result.ts";
import type { harness } from "./ports.fakes.ts";

export const MIN = 60_000;

export function ready(h: ReturnType<typeof harness>, name = "r") {
  return h.resources.get("ns", name)?.status?.conditions?.find((c) => c.type === "Ready");
}

export function delayOf(result: ReconcileResult): number {
  assert.equal(result.kind, "requeueAfter", `expected requeueAfter, got ${JSON.stringify(result)}`);
  return result.kind === "requeueAfter" ? result.delayMs : NaN;
}
