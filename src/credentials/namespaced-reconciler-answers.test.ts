import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { T0, credentials, harness } from "./ports.fakes.ts";
import { MIN, ready } from "./reconciler.fakes.ts";

describe("Reconciler: AWS answers and namespace limits", () => {
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
