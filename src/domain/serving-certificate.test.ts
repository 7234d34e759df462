import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  BACKDATE_MS,
  caBundle,
  certificateWork,
  renewalDue,
  servingNames,
  validityFrom,
} from "./serving-certificate.ts";
import type { StoredCertificates } from "./serving-certificate.ts";

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.parse("2027-01-01T00:00:00Z");
const NAMES = ["DNS:svc", "IP:127.0.0.1"];

function stored(o: {
  caDays?: [number, number];
  servingDays?: [number, number];
  names?: string[];
  issuedByCa?: boolean;
}): StoredCertificates {
  const v = ([from, to]: [number, number]) => ({ notBeforeMs: T0 + from * DAY, notAfterMs: T0 + to * DAY });
  return {
    ca: o.caDays ? { validity: v(o.caDays) } : undefined,
    serving: o.servingDays
      ? { validity: v(o.servingDays), names: o.names ?? NAMES, issuedByCa: o.issuedByCa ?? true }
      : undefined,
  };
}

describe("renewalDue", () => {
  const cases: { name: string; from: number; to: number; now: number; want: boolean }[] = [
    { name: "fresh", from: 0, to: 300, now: 1, want: false },
    { name: "just over a third left", from: 0, to: 300, now: 199, want: false },
    { name: "less than a third left", from: 0, to: 300, now: 201, want: true },
    { name: "expired", from: 0, to: 300, now: 301, want: true },
    { name: "not valid yet", from: 10, to: 300, now: 0, want: true },
    { name: "empty life", from: 10, to: 10, now: 10, want: true },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(
        renewalDue({ notBeforeMs: T0 + c.from * DAY, notAfterMs: T0 + c.to * DAY }, T0 + c.now * DAY),
        c.want,
      );
    });
  }
});

describe("certificateWork", () => {
  const cases: { name: string; stored: StoredCertificates; now: number; ca: boolean; serving: boolean }[] = [
    { name: "nothing stored: CA and serving", stored: stored({}), now: 0, ca: true, serving: true },
    {
      name: "all fresh: nothing",
      stored: stored({ caDays: [0, 3650], servingDays: [0, 365] }),
      now: 10,
      ca: false,
      serving: false,
    },
    {
      name: "CA without serving certificate",
      stored: stored({ caDays: [0, 3650] }),
      now: 10,
      ca: false,
      serving: true,
    },
    {
      name: "serving certificate with a third of its life left",
      stored: stored({ caDays: [0, 3650], servingDays: [0, 365] }),
      now: 250,
      ca: false,
      serving: true,
    },
    {
      name: "CA with a third of its life left re-issues both",
      stored: stored({ caDays: [0, 3650], servingDays: [2400, 2765] }),
      now: 2500,
      ca: true,
      serving: true,
    },
    {
      name: "serving certificate of another CA",
      stored: stored({ caDays: [0, 3650], servingDays: [0, 365], issuedByCa: false }),
      now: 10,
      ca: false,
      serving: true,
    },
    {
      name: "serving certificate for other names",
      stored: stored({ caDays: [0, 3650], servingDays: [0, 365], names: ["DNS:svc"] }),
      now: 10,
      ca: false,
      serving: true,
    },
    {
      name: "names in another order and case are the same",
      stored: stored({ caDays: [0, 3650], servingDays: [0, 365], names: ["IP:127.0.0.1", "DNS:SVC"] }),
      now: 10,
      ca: false,
      serving: false,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const work = certificateWork(c.stored, NAMES, T0 + c.now * DAY);
      assert.deepEqual({ ca: work.issueCa, serving: work.issueServing }, { ca: c.ca, serving: c.serving });
      assert.equal(work.reason === "", !c.ca && !c.serving);
    });
  }
});

test("validityFrom backdates and never outlives the issuer", () => {
  assert.deepEqual(validityFrom(T0, 10 * DAY), { notBeforeMs: T0 - BACKDATE_MS, notAfterMs: T0 + 10 * DAY });
  assert.deepEqual(validityFrom(T0, 10 * DAY, T0 + DAY), {
    notBeforeMs: T0 - BACKDATE_MS,
    notAfterMs: T0 + DAY,
  });
});

test("caBundle keeps the current CA first and earlier ones until they expire", () => {
  const current = { pem: "NEW", notAfterMs: T0 + 100 };
  const bundle = caBundle(
    current,
    [
      { pem: "NEW\n", notAfterMs: T0 + 100 },
      { pem: "OLD", notAfterMs: T0 + 10 },
      { pem: "GONE", notAfterMs: T0 - 1 },
      { pem: "OLD", notAfterMs: T0 + 10 },
    ],
    T0,
  );
  assert.deepEqual(
    bundle.map((e) => e.pem),
    ["NEW", "OLD"],
  );
});

test("servingNames: the Service's four DNS names plus extras, without duplicates", () => {
  assert.deepEqual(servingNames("pi", "ops", { ipAddresses: ["127.0.0.1"], dnsNames: ["pi"] }), [
    "DNS:pi",
    "DNS:pi.ops",
    "DNS:pi.ops.svc",
    "DNS:pi.ops.svc.cluster.local",
    "IP:127.0.0.1",
  ]);
});
