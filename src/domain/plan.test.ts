// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { SecretType } from "../api/schema.ts";
import {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type ObservedSecret,
  type OwnerReference,
  type Plan,
  type PlanInput,
  SecretAnnotation,
  ownership,
  plan,
  scheduledRefresh,
} from "./plan.ts";

const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;
const HOUR = 60 * MIN;

const UID = "0b6f1c3e-7d2a-4c1e-9f00-000000000001";
const OTHER_UID = "0b6f1c3e-7d2a-4c1e-9f00-000000000002";
const SPEC_HASH = "spec-hash-1";
const DATA_HASH = "data-hash-1";
const RATIO = 2 / 3;
const JITTER = 0.05;

const ourRef: OwnerReference = {
  apiVersion: "pincette.net/v1",
  kind: "AWSAssumeRole",
  name: "app",
  uid: UID,
  controller: true,
};

/** A Secret exactly as the operator leaves it after issuing credentials at T0 that expire at T0 + 1 h. */
function intactSecret(overrides: Partial<ObservedSecret> = {}): ObservedSecret {
  return {
    type: "Opaque",
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations: {
      [SecretAnnotation.roleArn]: "arn:aws:iam::123456789012:role/app",
      [SecretAnnotation.lastRefreshTime]: T0.toISOString(),
      [SecretAnnotation.expirationTime]: at(HOUR).toISOString(),
      [SecretAnnotation.specHash]: SPEC_HASH,
      [SecretAnnotation.dataHash]: DATA_HASH,
      [SecretAnnotation.ownerUid]: UID,
    },
    ownerReferences: [ourRef],
    dataHash: DATA_HASH,
    ...overrides,
  };
}

/** The intact Secret with some annotations replaced; `undefined` removes one. */
function withAnnotations(changes: Record<string, string | undefined>): ObservedSecret {
  const annotations: Record<string, string> = { ...intactSecret().annotations };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete annotations[key];
    else annotations[key] = value;
  }
  return intactSecret({ annotations });
}

function input(overrides: Partial<PlanInput> = {}): PlanInput {
  return {
    ownerUid: UID,
    secretName: "app-credentials",
    secretType: "Map",
    specHash: SPEC_HASH,
    secret: intactSecret(),
    now: at(10 * MIN),
    refreshRatio: RATIO,
    jitterFraction: JITTER,
    ...overrides,
  };
}

function keep(p: Plan): Extract<Plan, { action: "keep" }> {
  assert.equal(p.action, "keep", `expected keep, got ${JSON.stringify(p)}`);
  return p as Extract<Plan, { action: "keep" }>;
}

describe("ownership", () => {
  const cases: { name: string; secret: ObservedSecret; expected: string }[] = [
    { name: "our controller reference", secret: intactSecret(), expected: "ours" },
    {
      name: "another AWSAssumeRole as controller",
      secret: intactSecret({ ownerReferences: [{ ...ourRef, name: "other", uid: OTHER_UID }] }),
      expected: "other-resource",
    },
    {
      name: "another kind as controller",
      secret: intactSecret({
        ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", uid: OTHER_UID, controller: true }],
      }),
      expected: "foreign",
    },
    {
      name: "no owner references and no owner-uid annotation",
      secret: { dataHash: DATA_HASH },
      expected: "foreign",
    },
    {
      name: "no owner references but our owner-uid annotation",
      secret: intactSecret({ ownerReferences: undefined }),
      expected: "ours",
    },
    {
      name: "an empty owner reference list but our owner-uid annotation",
      secret: intactSecret({ ownerReferences: [] }),
      expected: "ours",
    },
    {
      name: "no owner references and another resource's owner-uid annotation",
      secret: intactSecret({
        ownerReferences: [],
        annotations: { [SecretAnnotation.ownerUid]: OTHER_UID },
      }),
      expected: "foreign",
    },
    {
      name: "only a non-controller reference, even with our owner-uid annotation",
      secret: intactSecret({ ownerReferences: [{ ...ourRef, uid: OTHER_UID, controller: false }] }),
      expected: "foreign",
    },
  ];
  for (const { name, secret, expected } of cases) {
    test(`is ${expected} for a Secret with ${name}`, () => {
      assert.equal(ownership(secret, UID), expected);
    });
  }
});

describe("plan: whose Secret it is", () => {
  test("issues credentials when the Secret is missing", () => {
    assert.deepEqual(plan(input({ secret: undefined })), {
      action: "refresh",
      cause: "missing",
      replace: false,
    });
  });

  test("reports a conflict naming another AWSAssumeRole when one controls the Secret", () => {
    const secret = intactSecret({ ownerReferences: [{ ...ourRef, name: "other", uid: OTHER_UID }] });
    const p = plan(input({ secret }));
    assert.equal(p.action, "conflict");
    assert.match(p.action === "conflict" ? p.message : "", /app-credentials/);
    assert.match(p.action === "conflict" ? p.message : "", /another AWSAssumeRole/);
  });

  test("reports a conflict for a Secret with no owner and no owner-uid annotation", () => {
    const p = plan(input({ secret: { type: "Opaque", dataHash: DATA_HASH } }));
    assert.equal(p.action, "conflict");
    const message = p.action === "conflict" ? p.message : "";
    assert.match(message, /app-credentials/);
    assert.doesNotMatch(message, /another AWSAssumeRole/);
  });

  test("reports a conflict rather than reissuing when a foreign Secret also has a different spec hash", () => {
    const secret = intactSecret({
      ownerReferences: [{ ...ourRef, uid: OTHER_UID }],
      annotations: { [SecretAnnotation.specHash]: "old" },
    });
    assert.equal(plan(input({ secret })).action, "conflict");
  });

  test("takes back its Secret by the owner-uid annotation when every owner reference was removed, as drift", () => {
    assert.deepEqual(plan(input({ secret: intactSecret({ ownerReferences: [] }) })), {
      action: "refresh",
      cause: "drift",
      replace: false,
    });
  });
});

describe("plan: spec, type and forced refresh", () => {
  test("reissues in place when the spec hash differs and the Secret type still fits", () => {
    assert.deepEqual(plan(input({ specHash: "spec-hash-2" })), {
      action: "refresh",
      cause: "spec-changed",
      replace: false,
    });
  });

  test("reissues with replace when the spec hash and the Secret type both changed", () => {
    const p = plan(input({ specHash: "spec-hash-2", secretType: "EcrDockerConfigJson" }));
    assert.deepEqual(p, { action: "refresh", cause: "spec-changed", replace: true });
  });

  test("reissues on spec change when the Secret has no spec hash annotation", () => {
    const p = plan(input({ secret: withAnnotations({ [SecretAnnotation.specHash]: undefined }) }));
    assert.deepEqual(p, { action: "refresh", cause: "spec-changed", replace: false });
  });

  const typeCases: { secretType: SecretType; secretTypeOnCluster: string }[] = [
    { secretType: "Map", secretTypeOnCluster: "kubernetes.io/dockerconfigjson" },
    { secretType: "File", secretTypeOnCluster: "kubernetes.io/dockerconfigjson" },
    { secretType: "EcrDockerConfigJson", secretTypeOnCluster: "Opaque" },
  ];
  for (const { secretType, secretTypeOnCluster } of typeCases) {
    test(`replaces a ${secretTypeOnCluster} Secret as drift for secretType ${secretType} with the same spec hash`, () => {
      const p = plan(input({ secretType, secret: intactSecret({ type: secretTypeOnCluster }) }));
      assert.deepEqual(p, { action: "refresh", cause: "drift", replace: true });
    });
  }

  test("keeps a dockerconfigjson Secret for secretType EcrDockerConfigJson", () => {
    const secret = intactSecret({ type: "kubernetes.io/dockerconfigjson" });
    keep(plan(input({ secretType: "EcrDockerConfigJson", secret })));
  });

  test("forces a refresh when the force-refresh annotation has a value the Secret has not recorded", () => {
    assert.deepEqual(plan(input({ forceRefresh: "1" })), {
      action: "refresh",
      cause: "forced",
      replace: false,
    });
  });

  test("forces a refresh when the force-refresh annotation changed since the last forced refresh", () => {
    const secret = withAnnotations({ [SecretAnnotation.forceRefresh]: "1" });
    assert.deepEqual(plan(input({ forceRefresh: "2", secret })), {
      action: "refresh",
      cause: "forced",
      replace: false,
    });
  });

  test("does not force a refresh again for the value already recorded on the Secret", () => {
    const secret = withAnnotations({ [SecretAnnotation.forceRefresh]: "1" });
    keep(plan(input({ forceRefresh: "1", secret })));
  });

  test("does not force a refresh when the annotation was removed from the AWSAssumeRole", () => {
    const secret = withAnnotations({ [SecretAnnotation.forceRefresh]: "1" });
    keep(plan(input({ forceRefresh: undefined, secret })));
  });

  test("reports a spec change rather than a forced refresh when both apply", () => {
    const p = plan(input({ forceRefresh: "1", specHash: "spec-hash-2" }));
    assert.equal(p.action === "refresh" ? p.cause : p.action, "spec-changed");
  });
});

describe("plan: drift", () => {
  const cases: { name: string; secret: ObservedSecret }[] = [
    { name: "the managed-by label was removed", secret: intactSecret({ labels: {} }) },
    { name: "the Secret has no labels at all", secret: intactSecret({ labels: undefined }) },
    {
      name: "the managed-by label has another value",
      secret: intactSecret({ labels: { [MANAGED_BY_LABEL]: "someone-else" } }),
    },
    { name: "the data was edited", secret: intactSecret({ dataHash: "data-hash-edited" }) },
    {
      name: "the data hash annotation is missing",
      secret: withAnnotations({ [SecretAnnotation.dataHash]: undefined }),
    },
    {
      name: "the last refresh time is missing",
      secret: withAnnotations({ [SecretAnnotation.lastRefreshTime]: undefined }),
    },
    {
      name: "the expiration time is missing",
      secret: withAnnotations({ [SecretAnnotation.expirationTime]: undefined }),
    },
    {
      name: "the last refresh time is garbled",
      secret: withAnnotations({ [SecretAnnotation.lastRefreshTime]: "yesterday-ish" }),
    },
    {
      name: "the expiration time is garbled",
      secret: withAnnotations({ [SecretAnnotation.expirationTime]: "not a time" }),
    },
    {
      name: "the expiration time is empty",
      secret: withAnnotations({ [SecretAnnotation.expirationTime]: "" }),
    },
    { name: "the owner references were removed", secret: intactSecret({ ownerReferences: undefined }) },
  ];
  for (const { name, secret } of cases) {
    test(`reissues as drift when ${name}`, () => {
      assert.deepEqual(plan(input({ secret })), { action: "refresh", cause: "drift", replace: false });
    });
  }
});

describe("plan: timing", () => {
  test("keeps the Secret and reports the times from its annotations before the refresh time", () => {
    const p = keep(plan(input({ now: at(10 * MIN) })));
    assert.deepEqual(p.lastRefreshTime, T0);
    assert.deepEqual(p.expirationTime, at(HOUR));
  });

  test("schedules the refresh within ±jitter of the ratio of the lifetime after the last refresh", () => {
    const { nextRefreshTime } = keep(plan(input()));
    const offset = nextRefreshTime.getTime() - T0.getTime();
    assert.ok(offset >= HOUR * (RATIO - JITTER), `refresh ${offset} ms after issue is too early`);
    assert.ok(offset <= HOUR * (RATIO + JITTER), `refresh ${offset} ms after issue is too late`);
  });

  test("honours a configured ratio and jitter", () => {
    const { nextRefreshTime } = keep(plan(input({ refreshRatio: 0.5, jitterFraction: 0 })));
    assert.deepEqual(nextRefreshTime, at(30 * MIN));
  });

  test("gives the same refresh time for the same inputs, as after a restart", () => {
    const first = keep(plan(input({ now: at(1 * MIN) }))).nextRefreshTime;
    const again = keep(plan(input({ now: at(20 * MIN) }))).nextRefreshTime;
    assert.deepEqual(again, first);
    assert.deepEqual(
      scheduledRefresh(UID, T0, at(HOUR), { refreshRatio: RATIO, jitterFraction: JITTER }),
      first,
    );
  });

  test("is due exactly at the refresh time and not a millisecond before", () => {
    const { nextRefreshTime } = keep(plan(input()));
    assert.deepEqual(plan(input({ now: nextRefreshTime })), {
      action: "refresh",
      cause: "due",
      replace: false,
    });
    keep(plan(input({ now: new Date(nextRefreshTime.getTime() - 1) })));
  });

  test("is due between the refresh time and expiry", () => {
    assert.deepEqual(plan(input({ now: at(HOUR - 1) })), { action: "refresh", cause: "due", replace: false });
  });

  test("is expired at the expiration time and after it", () => {
    for (const now of [at(HOUR), at(HOUR + 1), at(5 * HOUR)]) {
      assert.deepEqual(plan(input({ now })), { action: "refresh", cause: "expired", replace: false });
    }
  });

  test("spreads the refresh times of resources issued at the same moment over the jitter window", () => {
    const low = T0.getTime() + HOUR * (RATIO - JITTER);
    const high = T0.getTime() + HOUR * (RATIO + JITTER);
    const times = Array.from({ length: 200 }, (_, i) => {
      const ownerUid = `0b6f1c3e-7d2a-4c1e-9f00-${String(i).padStart(12, "0")}`;
      return scheduledRefresh(ownerUid, T0, at(HOUR), {
        refreshRatio: RATIO,
        jitterFraction: JITTER,
      }).getTime();
    });
    for (const t of times)
      assert.ok(t >= low && t <= high, `${new Date(t).toISOString()} outside the window`);
    assert.ok(new Set(times).size >= 190, `only ${new Set(times).size} distinct refresh times for 200 uids`);
    // Both ends of the window are used, not only a narrow band in it.
    const width = high - low;
    assert.ok(Math.min(...times) < low + width * 0.1, "nothing refreshes in the first tenth of the window");
    assert.ok(Math.max(...times) > high - width * 0.1, "nothing refreshes in the last tenth of the window");
  });

  test("moves the refresh time when the same resource's credentials were issued at another moment", () => {
    const opts = { refreshRatio: RATIO, jitterFraction: JITTER };
    const a = scheduledRefresh(UID, T0, at(HOUR), opts).getTime() - T0.getTime();
    const b = scheduledRefresh(UID, at(HOUR), at(2 * HOUR), opts).getTime() - at(HOUR).getTime();
    assert.notEqual(a, b);
  });
});
