// The shared status reporter with a minimal kind: what both kinds' status writes have in common.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { Condition } from "../api/schema.ts";
import { Reason } from "../domain/conditions.ts";
import { FakeEvents, T0 } from "./ports.fakes.ts";
import { ResourceStates } from "./resource-state.ts";
import { StatusReporter, statusTimes } from "./status.ts";
import type { StatusKind, StatusReport } from "./status.ts";

interface Status {
  conditions?: Condition[];
  expirationTime?: string;
}
interface Resource {
  metadata: { name: string; uid: string; generation: number; resourceVersion: string };
  status?: Status;
}

function setup() {
  const patches: { status: Record<string, unknown>; signal: AbortSignal | undefined }[] = [];
  const kind: StatusKind<Resource, Status, StatusReport> = {
    target: (r) => ({
      apiVersion: "v1",
      kind: "Thing",
      namespace: "ns",
      name: r.metadata.name,
      uid: r.metadata.uid,
    }),
    desired: (r, report, conditions) => ({
      expirationTime: statusTimes(report.times, r.status ?? {}, report.ready === "False").expirationTime,
      conditions,
    }),
    normalise: (s) => ({ expirationTime: s.expirationTime, conditions: s.conditions }),
    patch: async (_r, status, signal) => {
      signal?.throwIfAborted();
      patches.push({ status, signal });
    },
  };
  const events = new FakeEvents();
  const reporter = new StatusReporter(kind, events, () => T0);
  const state = new ResourceStates().of("ns/r", "u", 1);
  const resource: Resource = { metadata: { name: "r", uid: "u", generation: 1, resourceVersion: "1" } };
  const log = pino({ level: "silent" });
  return { patches, events, reporter, state, resource, log };
}

const ready: StatusReport = {
  ready: "True",
  reason: Reason.CredentialsReady,
  message: "fine",
  times: { expirationTime: new Date(T0.getTime() + 900_000) },
};
const failed: StatusReport = { ready: "False", reason: Reason.AccessDenied, message: "denied", times: {} };

describe("StatusReporter", () => {
  test("writes a status once; the same report over the written status writes nothing", async () => {
    const w = setup();
    await w.reporter.report(w.resource, w.state, w.log, ready);
    assert.equal(w.patches.length, 1);
    const written = { ...w.resource, status: w.patches[0]!.status as Status };
    await w.reporter.report(written, w.state, w.log, ready);
    assert.equal(w.patches.length, 1, "nothing new to write");
    assert.equal(w.reporter.isOwnStatus(w.state, written), true, "the watch's echo is recognised");
  });

  test("a stale cache does not make it repeat its own write", async () => {
    const w = setup();
    await w.reporter.report(w.resource, w.state, w.log, ready);
    await w.reporter.report(w.resource, w.state, w.log, ready); // the cache still has resourceVersion 1
    assert.equal(w.patches.length, 1);
  });

  test("a problem is one Warning per change of reason or message, however often it is reported", async () => {
    const w = setup();
    for (let i = 0; i < 3; i++) await w.reporter.report(w.resource, w.state, w.log, failed);
    await w.reporter.report(w.resource, w.state, w.log, { ...failed, message: "denied again" });
    assert.deepEqual(
      w.events.events.map((e) => [e.type, e.message]),
      [
        ["Warning", "denied"],
        ["Warning", "denied again"],
      ],
    );
    await w.reporter.report(w.resource, w.state, w.log, ready);
    await w.reporter.report(w.resource, w.state, w.log, failed);
    assert.equal(w.events.events.length, 3, "after a recovery the same problem is reported again");
  });

  test("a failure keeps the times of the working credentials", async () => {
    const w = setup();
    await w.reporter.report(w.resource, w.state, w.log, ready);
    const written = {
      ...w.resource,
      metadata: { ...w.resource.metadata, resourceVersion: "2" },
      status: w.patches[0]!.status as Status,
    };
    await w.reporter.report(written, w.state, w.log, failed);
    assert.equal(w.patches[1]!.status.expirationTime, written.status.expirationTime);
  });

  test("after the reconcile's deadline the status is still written, without the expired signal", async () => {
    const w = setup();
    const expired = AbortSignal.abort();
    await w.reporter.report(w.resource, w.state, w.log, failed, expired);
    assert.equal(w.patches.length, 1);
    assert.equal(w.patches[0]!.signal, undefined);
  });
});
