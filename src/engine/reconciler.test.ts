import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SecretAnnotation } from "../domain/plan.ts";
import { T0, apiError, awsError, credentials, harness } from "./ports.fakes.ts";
import type { ReconcileResult } from "./result.ts";

const MIN = 60_000;

function ready(h: ReturnType<typeof harness>, name = "r") {
  return h.resources.get("ns", name)?.status?.conditions?.find((c) => c.type === "Ready");
}

function delayOf(result: ReconcileResult): number {
  assert.equal(result.kind, "requeueAfter", `expected requeueAfter, got ${JSON.stringify(result)}`);
  return result.kind === "requeueAfter" ? result.delayMs : NaN;
}

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

  test("refreshes when the refresh time is reached", async () => {
    const h = harness();
    h.resources.apply("r", {});
    await h.reconciler.reconcile("ns/r");
    h.clock.now = new Date(T0.getTime() + 10 * MIN);
    await h.reconciler.reconcile("ns/r");
    assert.equal(h.aws.requests.length, 2);
    assert.deepEqual(h.events.reasons(), ["Created", "Refreshed"]);
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
      assert.deepEqual(h.events.reasons(), ["DurationClamped", "Created", "Refreshed"]);
      h.resources.apply("r", { durationSeconds: 10800 });
      await h.reconciler.reconcile("ns/r");
      assert.deepEqual(h.events.reasons(), [
        "DurationClamped",
        "Created",
        "Refreshed",
        "DurationClamped",
        "Refreshed",
      ]);
    });

    test("repeated refreshes emit the same event message, so the recorder aggregates them", async () => {
      const h = harness();
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

  describe("AWS answers are checked before they steer anything", () => {
    const cases: { name: string; setup: (h: ReturnType<typeof harness>) => void; written: boolean }[] = [
      {
        name: "moto's raw ECR token, expired in 2015",
        setup: (h) => {
          h.resources.apply("r", {
            secretType: "EcrDockerConfigJson",
            ecrRepositoryUrl: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/repo",
          });
          h.aws.ecrAnswer = () => ({
            token: btoa("AWS:password"),
            expirationTime: new Date("2015-01-01T00:00:00Z"),
          });
        },
        written: true,
      },
      {
        name: "STS credentials that expired an hour ago",
        setup: (h) => {
          h.resources.apply("r", {});
          h.aws.answers = [() => credentials(h.clock.now, -3600)];
        },
        written: true,
      },
      {
        name: "STS credentials with 5 s left of 900",
        setup: (h) => {
          h.resources.apply("r", {});
          h.aws.answers = [() => credentials(h.clock.now, 5)];
        },
        written: true,
      },
      {
        name: "an expiry that is not a time",
        setup: (h) => {
          h.resources.apply("r", {});
          h.aws.answers = [() => ({ ...credentials(h.clock.now, 900), expirationTime: new Date("garbage") })];
        },
        written: false,
      },
    ];
    for (const c of cases) {
      test(`${c.name}: InvalidExpiration naming clock skew, a backoff capped at the permanent-error delay`, async () => {
        const h = harness();
        c.setup(h);
        const result = await h.reconciler.reconcile("ns/r");
        assert.equal(result.kind, "temporaryError");
        assert.equal(result.kind === "temporaryError" ? result.maxBackoffMs : 0, 60_000);
        assert.equal(ready(h)?.status, "False");
        assert.equal(ready(h)?.reason, "InvalidExpiration");
        const warnings = h.events.events.filter((e) => e.type === "Warning");
        assert.equal(warnings.length, 1);
        assert.match(warnings[0]!.message, /clock skew/);
        assert.equal(h.secrets.writes, c.written ? 1 : 0, "the Secret is written at most once per attempt");

        // The retry (after the queue's backoff) gets the same answer: one more write, no second Warning.
        h.clock.now = new Date(h.clock.now.getTime() + 10_000);
        const again = await h.reconciler.reconcile("ns/r");
        assert.equal(again.kind, "temporaryError");
        assert.equal(h.secrets.writes, c.written ? 2 : 0);
        assert.equal(
          h.events.events.filter((e) => e.type === "Warning").length,
          1,
          "the same Warning aggregates",
        );
      });
    }

    test("between attempts the Secret is not reported Ready, and a good answer ends the anomaly", async () => {
      const h = harness();
      h.resources.apply("r", {});
      h.aws.answers = [() => credentials(h.clock.now, 5)];
      await h.reconciler.reconcile("ns/r");
      h.clock.now = new Date(T0.getTime() + 1_000); // a backoff step later, the Secret not yet due
      const between = await h.reconciler.reconcile("ns/r");
      assert.equal(between.kind, "temporaryError");
      assert.equal(ready(h)?.reason, "InvalidExpiration");
      assert.equal(h.secrets.writes, 1);
      h.aws.answers = [() => credentials(h.clock.now, 900)];
      h.clock.now = new Date(T0.getTime() + 10_000);
      const good = await h.reconciler.reconcile("ns/r");
      assert.equal(good.kind, "requeueAfter");
      assert.equal(ready(h)?.status, "True");
    });
  });
  describe("namespace limits are decided by --namespace-permissions alone", () => {
    /** A Namespace cache as the controller builds it for --cluster-assume-roles: the namespace has no annotation. */
    const namespaces = {
      get: (_namespace: string, name: string) => (name === "ns" ? { metadata: { name: "ns" } } : undefined),
      list: () => [{ metadata: { name: "ns" } }],
    };

    test("a Namespace cache built for another feature does not switch the limits on", async () => {
      const h = harness({ namespaceCache: namespaces, namespacePermissions: false });
      h.resources.apply("r", {});
      await h.reconciler.reconcile("ns/r");
      assert.equal(ready(h)?.status, "True");
      assert.ok(h.secrets.get("ns", "r-aws"), "the Secret is written");
      // An existing Secret is kept too (the reported data loss deleted it).
      h.clock.now = new Date(T0.getTime() + MIN);
      await h.reconciler.reconcile("ns/r");
      assert.ok(h.secrets.get("ns", "r-aws"), "the Secret is kept");
      assert.equal(ready(h)?.status, "True");
    });

    test("with --namespace-permissions the unannotated namespace may assume nothing", async () => {
      const h = harness({ namespaceCache: namespaces, namespacePermissions: true });
      h.resources.apply("r", {});
      await h.reconciler.reconcile("ns/r");
      assert.equal(ready(h)?.reason, "RoleNotPermitted");
      assert.equal(h.secrets.get("ns", "r-aws"), undefined);
      assert.equal(h.aws.requests.length, 0, "no AssumeRole");
    });

    test("--namespace-permissions without a Namespace cache is refused at construction", () => {
      assert.throws(() => harness({ namespacePermissions: true }), /Namespace cache/);
    });
  });
});
