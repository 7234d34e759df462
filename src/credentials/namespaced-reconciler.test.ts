import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SecretAnnotation } from "../domain/plan.ts";
import { T0, apiError, awsError, credentials, harness } from "./ports.fakes.ts";
import type { ReconcileResult } from "../runtime/result.ts";
import { MIN, delayOf, ready } from "./reconciler.fakes.ts";

describe("Reconciler", () => {
  test("creates the Secret, reports Ready and looks again at two thirds of the lifetime", async () => {
    const h = harness();
    h.resources.apply("r", {});
    const result = await h.reconciler.reconcile("ns/r");
    assert.equal(delayOf(result), 10 * MIN);
    const secret = h.secrets.get("ns", "r-aws");
    assert.ok(secret, "the Secret exists");
    assert.equal(
      secret.metadata?.annotations?.[SecretAnnotation.expirationTime],
      new Date(T0.getTime() + 15 * MIN).toISOString(),
    );
    assert.equal(ready(h)?.status, "True");
    assert.deepEqual(h.events.reasons(), ["Created"]);
  });

  test("keeps a valid Secret without calling AWS or writing anything (a restart costs nothing)", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    const writes = [h.secrets.writes, h.resources.statusWrites, h.aws.requests.length];
    // A new process: same objects, no memory.
    const restarted = harness();
    for (const [k, v] of h.resources.objects) restarted.resources.objects.set(k, v);
    for (const [k, v] of h.secrets.objects) restarted.secrets.objects.set(k, v);
    restarted.clock.now = new Date(T0.getTime() + 5 * MIN);
    const result = await restarted.reconciler.reconcile("ns/r");
    assert.equal(delayOf(result), 5 * MIN);
    assert.deepEqual(
      [restarted.secrets.writes, restarted.resources.statusWrites, restarted.aws.requests.length],
      [0, 0, 0],
    );
    assert.deepEqual(writes, [1, 1, 1]);
  });

  test("refreshes when the refresh time is reached, without an event: routine success", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    const firstWrite = h.secrets.writes;
    h.clock.now = new Date(T0.getTime() + 10 * MIN);
    await h.reconciler.reconcile("ns/r");
    assert.equal(h.aws.requests.length, 2);
    assert.equal(h.secrets.writes, firstWrite + 1, "the Secret was written");
    assert.deepEqual(h.events.reasons(), ["Created"]);
  });

  test("with refreshEvents (--refresh-events) a routine refresh writes Refreshed", async () => {
    const h = harness({ refreshEvents: true });
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    h.clock.now = new Date(T0.getTime() + 10 * MIN);
    await h.reconciler.reconcile("ns/r");
    assert.deepEqual(h.events.reasons(), ["Created", "Refreshed"]);
    assert.match(
      h.events.events[1]!.message,
      /^Refreshed Secret r-aws for .* \(the refresh time was reached\)$/,
    );
  });

  test("the first refresh after an AWS failure writes Recovered, naming the failure", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    h.aws.answers = [
      awsError("Throttling", "Rate exceeded"),
      (request) => credentials(h.clock.now, request.durationSeconds),
    ];
    h.clock.now = new Date(T0.getTime() + 10 * MIN);
    await h.reconciler.reconcile("ns/r");
    await h.reconciler.reconcile("ns/r");
    assert.equal(ready(h)?.status, "True");
    assert.deepEqual(h.events.reasons(), ["Created", "Throttled", "Recovered"]);
    assert.match(h.events.events[2]!.message, /after Throttled \(the refresh time was reached\)$/);
    // The next scheduled refresh is routine again.
    h.clock.now = new Date(T0.getTime() + 20 * MIN);
    await h.reconciler.reconcile("ns/r");
    assert.equal(h.aws.requests.length, 4);
    assert.deepEqual(h.events.reasons(), ["Created", "Throttled", "Recovered"]);
  });

  test("a resource the cache shows not Ready (an operator restart after a failure) recovers with an event", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    h.aws.answers = [awsError("AccessDenied", "not authorized", 403)];
    h.clock.now = new Date(T0.getTime() + 10 * MIN);
    await h.reconciler.reconcile("ns/r");
    const restarted = harness();
    for (const [k, v] of h.resources.objects) restarted.resources.objects.set(k, v);
    for (const [k, v] of h.secrets.objects) restarted.secrets.objects.set(k, v);
    restarted.clock.now = h.clock.now;
    await restarted.reconciler.reconcile("ns/r");
    assert.deepEqual(restarted.events.reasons(), ["Recovered"]);
    assert.match(restarted.events.events[0]!.message, /after AccessDenied/);
  });

  const failures: {
    name: string;
    error: Error;
    reason: string;
    kind: ReconcileResult["kind"];
    recheckAfterMs?: number;
  }[] = [
    {
      name: "throttling",
      error: awsError("Throttling", "Rate exceeded"),
      reason: "Throttled",
      kind: "temporaryError",
    },
    {
      name: "a 5xx",
      error: awsError("InternalFailure", "boom", 500),
      reason: "AWSUnavailable",
      kind: "temporaryError",
    },
    {
      name: "AccessDenied",
      error: awsError("AccessDenied", "not authorized", 403),
      reason: "AccessDenied",
      kind: "terminalError",
      recheckAfterMs: 60_000,
    },
  ];
  for (const f of failures) {
    test(`on ${f.name}: Ready=False ${f.reason}, a ${f.kind}, and the working Secret is kept`, async () => {
      const h = harness();
      h.resources.apply("r", {});
      await h.reconciler.reconcile("ns/r");
      const before = h.secrets.get("ns", "r-aws");
      h.aws.answers = [f.error];
      h.clock.now = new Date(T0.getTime() + 10 * MIN);
      const result = await h.reconciler.reconcile("ns/r");
      assert.equal(result.kind, f.kind);
      if (result.kind === "terminalError") assert.equal(result.recheckAfterMs, f.recheckAfterMs);
      assert.equal(ready(h)?.status, "False");
      assert.equal(ready(h)?.reason, f.reason);
      assert.deepEqual(h.secrets.get("ns", "r-aws"), before, "the Secret is untouched");
      assert.deepEqual(h.events.reasons(), ["Created", f.reason]);
      // The same failure again: status stays put and no second Warning.
      await h.reconciler.reconcile("ns/r");
      assert.deepEqual(h.events.reasons(), ["Created", f.reason]);
    });
  }

  test("an invalid spec is a terminal error that waits for a change, with no AWS call", async () => {
    const h = harness();
    h.resources.apply("r", { secretType: "EcrDockerConfigJson", ecrRepositoryUrl: "not a registry" });
    const result = await h.reconciler.reconcile("ns/r");
    assert.equal(result.kind, "terminalError");
    assert.equal(result.kind === "terminalError" ? result.recheckAfterMs : 0, undefined);
    assert.equal(ready(h)?.reason, "InvalidSpec");
    assert.equal(h.aws.requests.length, 0);
  });

  test("repairs data changed by someone else, seen only through the cached data hash", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    const cached = h.secrets.cache.get("ns", "r-aws");
    assert.ok(cached && !("data" in cached), "the cache hands the engine no Secret data");
    const tampered = structuredClone(h.secrets.get("ns", "r-aws")!);
    tampered.data = { ...tampered.data, awsSecretAccessKey: Buffer.from("tampered").toString("base64") };
    h.secrets.put(tampered);
    await h.reconciler.reconcile("ns/r");
    assert.equal(h.aws.requests.length, 2, "new credentials were issued");
    assert.notEqual(h.secrets.get("ns", "r-aws")?.data?.awsSecretAccessKey, tampered.data.awsSecretAccessKey);
    assert.deepEqual(h.events.reasons(), ["Created", "Refreshed"]);
  });

  test("after a secretName change deletes the old owned Secret found through the owner index", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    h.resources.apply("r", { secretName: "renamed" });
    await h.reconciler.reconcile("ns/r");
    assert.ok(h.secrets.get("ns", "renamed"), "the new Secret exists");
    assert.equal(h.secrets.get("ns", "r-aws"), undefined, "the old one is gone");
  });

  test("a Secret of that name owned by someone else is never touched and is checked again later", async () => {
    const h = harness();
    h.secrets.put({ metadata: { namespace: "ns", name: "r-aws", uid: "foreign" }, data: { a: "b" } });
    h.resources.apply("r", {});
    const result = await h.reconciler.reconcile("ns/r");
    assert.equal(delayOf(result), 30_000);
    assert.equal(ready(h)?.reason, "SecretConflict");
    assert.deepEqual(h.secrets.get("ns", "r-aws")?.data, { a: "b" });
    assert.equal(h.aws.requests.length, 0);
  });

  test("a write conflict is retried at once, reading the Secret live", async () => {
    const h = harness();
    h.resources.apply("r", {});
    h.secrets.failNext = [apiError(409)];
    const result = await h.reconciler.reconcile("ns/r");
    assert.equal(result.kind, "temporaryError");
    assert.equal(result.kind === "temporaryError" ? result.retryAfterMs : -1, 0);
    await h.reconciler.reconcile("ns/r");
    assert.equal(h.secrets.liveReads, 1);
    assert.equal(ready(h)?.status, "True");
  });

  test("a failed Kubernetes write reports KubernetesError and retries with backoff", async () => {
    const h = harness();
    h.resources.apply("r", {});
    h.secrets.failNext = [apiError(500)];
    const result = await h.reconciler.reconcile("ns/r");
    assert.equal(result.kind, "temporaryError");
    assert.equal(result.kind === "temporaryError" ? result.retryAfterMs : 0, undefined);
    assert.equal(ready(h)?.reason, "KubernetesError");
  });

  test("steps the duration down when STS rejects it and remembers the accepted one", async () => {
    const h = harness();
    h.aws.answers = [
      (r) =>
        r.durationSeconds > 3600
          ? awsError(
              "ValidationError",
              "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            )
          : credentials(h.clock.now, r.durationSeconds),
    ];
    h.resources.apply("r", { durationSeconds: 43200 });
    await h.reconciler.reconcile("ns/r");
    assert.deepEqual(
      h.aws.requests.map((r) => r.durationSeconds),
      [43200, 3600],
    );
    assert.equal(ready(h)?.status, "True");
    assert.match(ready(h)?.message ?? "", /sessions last 3600 s/);
    h.clock.now = new Date(T0.getTime() + 40 * MIN);
    await h.reconciler.reconcile("ns/r");
    assert.deepEqual(
      h.aws.requests.map((r) => r.durationSeconds),
      [43200, 3600, 3600],
      "the next refresh asks for the accepted duration at once",
    );
  });

  test("a deleted resource leaves no in-memory state behind", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    assert.equal(h.reconciler.trackedResources(), 1);
    h.resources.objects.delete("ns/r");
    assert.deepEqual(await h.reconciler.reconcile("ns/r"), { kind: "done" });
    assert.equal(h.reconciler.trackedResources(), 0);
  });

  describe("in-memory state: one record per resource, reset on a spec change, dropped on delete", () => {
    const rejectAbove3600 = (h: ReturnType<typeof harness>) => (r: { durationSeconds: number }) =>
      r.durationSeconds > 3600
        ? awsError(
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
          )
        : credentials(h.clock.now, r.durationSeconds);

    test("forgets the accepted-duration cap when the spec changes", async () => {
      const h = harness();
      h.aws.answers = [rejectAbove3600(h)];
      h.resources.apply("r", { roleName: "short", durationSeconds: 43200 });
      await h.reconciler.reconcile("ns/r");
      // Another role, which allows 12 hours.
      h.aws.answers = [(r) => credentials(h.clock.now, r.durationSeconds)];
      h.resources.apply("r", { roleName: "long", durationSeconds: 43200 });
      await h.reconciler.reconcile("ns/r");
      assert.deepEqual(
        h.aws.requests.map((r) => r.durationSeconds),
        [43200, 3600, 43200],
        "the new spec asks for its own duration",
      );
      assert.equal(ready(h)?.status, "True");
      assert.doesNotMatch(ready(h)?.message ?? "", /sessions last/);
    });

    test("reports the one-hour role-chaining clamp once per spec", async () => {
      const h = harness();
      h.aws.identity = { ...h.aws.identity, assumedRole: true };
      h.resources.apply("r", { durationSeconds: 7200 });
      await h.reconciler.reconcile("ns/r");
      h.clock.now = new Date(T0.getTime() + 50 * MIN);
      await h.reconciler.reconcile("ns/r");
      assert.deepEqual(h.events.reasons(), ["DurationClamped", "Created"], "a routine refresh: no event");
      h.resources.apply("r", { durationSeconds: 10800 });
      await h.reconciler.reconcile("ns/r");
      assert.deepEqual(h.events.reasons(), ["DurationClamped", "Created", "DurationClamped", "Refreshed"]);
    });

    test("repeated refreshes emit the same event message, so the recorder aggregates them", async () => {
      const h = harness({ refreshEvents: true });
      h.resources.apply("r", {});
      await h.reconciler.reconcile("ns/r");
      for (let i = 1; i <= 3; i++) {
        h.clock.now = new Date(T0.getTime() + i * 10 * MIN);
        await h.reconciler.reconcile("ns/r");
      }
      const refreshed = h.events.events.filter((e) => e.reason === "Refreshed").map((e) => e.message);
      assert.equal(refreshed.length, 3);
      assert.equal(new Set(refreshed).size, 1, `messages differ: ${refreshed.join(" | ")}`);
    });

    test("a Secret leaving the cache after its resource was deleted leaves no state behind", async () => {
      const h = harness();
      h.resources.apply("r", {});
      await h.reconciler.reconcile("ns/r");
      h.resources.objects.delete("ns/r");
      h.reconciler.forget("ns/r");
      h.reconciler.expectOutsideCache("ns/r");
      assert.equal(h.reconciler.trackedResources(), 0);
    });

    test("a resource deleted and created again under the same name starts from a fresh record", async () => {
      const h = harness();
      h.aws.answers = [rejectAbove3600(h)];
      h.resources.apply("r", { durationSeconds: 43200 });
      await h.reconciler.reconcile("ns/r");
      h.resources.objects.delete("ns/r");
      h.secrets.objects.clear();
      const again = h.resources.apply("r", { durationSeconds: 43200 });
      again.metadata.uid = "uid-r-2";
      h.resources.objects.set("ns/r", again);
      h.aws.answers = [(r) => credentials(h.clock.now, r.durationSeconds)];
      await h.reconciler.reconcile("ns/r");
      assert.deepEqual(
        h.aws.requests.map((r) => r.durationSeconds),
        [43200, 3600, 43200],
      );
    });
  });

  test("a call that never answers ends at the reconcile's deadline as a temporary error; the Secret is kept", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    const before = h.secrets.get("ns", "r-aws");
    h.aws.hang = true;
    h.clock.now = new Date(T0.getTime() + 10 * MIN);
    const result = await h.reconciler.reconcile("ns/r", AbortSignal.timeout(50));
    assert.equal(result.kind, "temporaryError");
    assert.equal(ready(h)?.reason, "AWSUnavailable");
    assert.match(ready(h)?.message ?? "", /no answer before the deadline/);
    assert.deepEqual(h.secrets.get("ns", "r-aws"), before);
  });
});
