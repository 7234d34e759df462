// What every fault scenario shares: the profile (FAULTS_PROFILE=ci|full, FAULTS_RESOURCES), a namespace with a
// fleet of AWSAssumeRoles of every secretType, the decoy Secrets the operator must never touch, operator flags
// scaled to the scenarios' short credential lifetimes, and the report table.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, freshNamespace, privateProxy, world } from "../support/world.ts";
import type { TestContext } from "../support/world.ts";
import { createResource, ensureCrd, startOperator } from "../support/operator.ts";
import type { OperatorOptions, RunningOperator } from "../support/operator.ts";
import type { AwsProxy } from "../../testenv/aws-proxy/proxy.ts";
import type { AWSAssumeRole, SecretType } from "../../src/api/schema.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SecretAnnotation } from "../../src/domain/plan.ts";
import { DECOY_LABEL, FaultChecker, sleepUntil } from "./checker.ts";
import type { CheckerSummary } from "./checker.ts";

export type ProfileName = "ci" | "full";

/** ci: fewer kills and resources and shorter windows (the suite in a few minutes); full: the default. */
export const PROFILE: ProfileName = process.env.FAULTS_PROFILE === "ci" ? "ci" : "full";
export const CI = PROFILE === "ci";

/** Managed resources per scenario (besides the two that conflict with decoys). */
export const RESOURCES = positiveInt(process.env.FAULTS_RESOURCES) ?? (CI ? 12 : 24);

/**
 * The scenarios shrink credential lifetimes from AWS's 15 min+ to under a minute, so the retry backoff shrinks
 * with them (the default 30 s cap would be as long as the whole refresh margin). The ratio of refresh margin to
 * backoff cap stays about what it is in production (300 s : 30 s).
 */
export const BACKOFF_MAX_MS = 1_500;
export const OPERATOR_ARGS = [
  "--backoff-base-ms",
  "100",
  "--backoff-max-ms",
  String(BACKOFF_MAX_MS),
  "--conflict-retry-ms",
  "5000",
  "--permanent-error-retry-ms",
  "5000",
  "--log-level",
  process.env.FAULTS_LOG_LEVEL ?? "info",
];
/** Once AWS is back the operator retries within its backoff cap; allow that plus a second of slack. */
export const REACTION_MS = BACKOFF_MAX_MS + 1_000;

export const ECR_URL = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo";
export const CONFLICTS = ["conflict-plain", "conflict-labelled"];

export interface Member {
  name: string;
  secretName: string;
  secretType: SecretType;
}

/** `count` resources: every fourth EcrDockerConfigJson, about a third of the others File, the rest Map. */
export function fleet(count: number, prefix = "r"): Member[] {
  return Array.from({ length: count }, (_, i) => {
    const secretType: SecretType = i % 4 === 3 ? "EcrDockerConfigJson" : i % 3 === 1 ? "File" : "Map";
    const name = `${prefix}${String(i).padStart(2, "0")}`;
    return { name, secretName: `${name}-aws`, secretType };
  });
}

export function specOf(m: Member): Record<string, unknown> {
  return {
    roleName: `role-${m.name}`,
    secretName: m.secretName,
    secretType: m.secretType,
    ...(m.secretType === "EcrDockerConfigJson" ? { ecrRepositoryUrl: ECR_URL } : {}),
  };
}

/** Creates the resources, a few at a time. */
export async function createFleet(namespace: string, members: Member[], parallel = 8): Promise<void> {
  const queue = [...members];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let m = queue.shift(); m; m = queue.shift()) await createResource(namespace, m.name, specOf(m));
    }),
  );
}

export interface Scenario {
  namespace: string;
  proxy: AwsProxy;
  checker: FaultChecker;
  lifetimeSeconds: number;
  startedAt: number;
  /** Every operator process the scenario started, in order. */
  operators: { label: string; op: RunningOperator }[];
}

/**
 * A fresh namespace with the decoys and the two conflicting resources, a private AWS proxy issuing credentials
 * that live `lifetimeSeconds`, and a started checker. The fleet itself is created by the scenario.
 */
export async function setUp(t: TestContext, lifetimeSeconds: number): Promise<Scenario> {
  const startedAt = Date.now();
  await ensureCrd();
  const w = await world();
  const namespace = await freshNamespace(t);
  const proxy = await newProxy(t, lifetimeSeconds);
  await createDecoys(namespace);
  for (const [name, decoy] of [
    [CONFLICTS[0]!, "decoy-claimed"],
    [CONFLICTS[1]!, "decoy-claimed-labelled"],
  ] as const) {
    await createResource(namespace, name, {
      roleName: "role-conflict",
      secretName: decoy,
      secretType: "Map",
    });
  }
  const operators: Scenario["operators"] = [];
  const checker = new FaultChecker({
    core: w.core,
    custom: w.custom,
    namespace,
    proxies: [proxy],
    conflicts: CONFLICTS,
    reactionMs: REACTION_MS,
    // An operator that exited by itself (not killed by the scenario) explains a missing recovery at once.
    diagnose: () =>
      operators
        .filter(({ op }) => op.child.exitCode !== null)
        .map(({ label, op }) => `operator ${label} exited with code ${op.child.exitCode}`)
        .join(", "),
  });
  await checker.start();
  t.after(() => checker.stop());
  return { namespace, proxy, checker, lifetimeSeconds, startedAt, operators };
}

/** A private AWS proxy whose STS credentials and ECR tokens live `lifetimeSeconds`. */
export async function newProxy(t: TestContext, lifetimeSeconds: number): Promise<AwsProxy> {
  const proxy = await privateProxy(t);
  proxy.setLifetime({ stsSeconds: lifetimeSeconds, ecrSeconds: lifetimeSeconds });
  return proxy;
}

/**
 * Starts an operator for the scenario (its flags scaled to the short lifetimes) and keeps its output in
 * .testenv/logs/faults/<namespace>/<label>.log when the test ends.
 */
export async function operator(
  t: TestContext,
  scenario: Scenario,
  label: string,
  options: Partial<OperatorOptions> = {},
): Promise<RunningOperator> {
  const op = await startOperator(t, {
    namespaces: [scenario.namespace],
    awsEndpoint: scenario.proxy.url,
    ...options,
    args: [...OPERATOR_ARGS, ...(options.args ?? [])],
  });
  scenario.operators.push({ label, op });
  t.after(() => {
    const dir = join(ROOT, ".testenv", "logs", "faults", scenario.namespace);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${label}.log`), op.output());
  });
  return op;
}

/**
 * Secrets the operator does not own: one plain, one carrying the operator's managed-by label, and two whose
 * names AWSAssumeRoles claim (one of them labelled and annotated with another resource's owner uid).
 */
async function createDecoys(namespace: string): Promise<void> {
  const w = await world();
  const decoy = (name: string, labels: Record<string, string>, annotations: Record<string, string> = {}) =>
    w.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, namespace, labels: { [DECOY_LABEL]: "true", ...labels }, annotations },
        type: "Opaque",
        data: { note: Buffer.from(`${name}: not the operator's`).toString("base64") },
      },
    });
  const managedBy = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
  await decoy("decoy-plain", {});
  await decoy("decoy-labelled", managedBy);
  await decoy("decoy-claimed", {});
  await decoy("decoy-claimed-labelled", managedBy, { [SecretAnnotation.ownerUid]: randomUUID() });
}

export interface ReportInput {
  title: string;
  scenario: Scenario;
  summary: CheckerSummary;
  recoveryMs: number;
  extra?: [string, string][];
}

/** Prints the scenario's report table and returns it. */
export function report(r: ReportInput): string {
  const { summary: s } = r;
  const rows: [string, string][] = [
    [
      "profile / resources / lifetime",
      `${PROFILE} / ${RESOURCES} + ${CONFLICTS.length} conflicting / ${r.scenario.lifetimeSeconds} s`,
    ],
    ["expired observations", String(s.unexcusedExpired.length)],
    ["expired, excused (AWS down at expiry)", String(s.expired.length - s.unexcusedExpired.length)],
    ["unowned Secrets touched", String(s.unowned.length)],
    ["Secrets with unknown credentials", String(s.unknown.length)],
    ["recovery after the fault ended", `${(r.recoveryMs / 1000).toFixed(1)} s`],
    ["STS AssumeRole calls (ok / all)", `${s.aws.stsOk} / ${s.aws.stsTotal}`],
    ["ECR GetAuthorizationToken calls (ok / all)", `${s.aws.ecrOk} / ${s.aws.ecrTotal}`],
    ["checker samples (failed)", `${s.samples} (${s.sampleErrors})`],
    ...(r.extra ?? []),
    ["scenario duration", `${((Date.now() - r.scenario.startedAt) / 1000).toFixed(0)} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const valueWidth = Math.max(...rows.map(([, v]) => v.length));
  const line = `+${"-".repeat(width + 2)}+${"-".repeat(valueWidth + 2)}+`;
  const text = [
    `fault scenario: ${r.title}`,
    line,
    ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v.padEnd(valueWidth)} |`),
    line,
  ].join("\n");
  console.log(`\n${text}\n`);
  return text;
}

/** The suite's invariants: nothing expired while AWS was reachable, no unowned Secret touched. */
export function assertInvariants(s: CheckerSummary): void {
  const iso = (ms: number) => new Date(ms).toISOString();
  assert.deepEqual(
    s.unexcusedExpired.map(
      (e) => `${e.secret} (${e.credential}) expired at ${iso(e.expiredAt)}, seen at ${iso(e.at)}`,
    ),
    [],
    "no Secret may hold expired credentials while AWS was reachable before their expiry",
  );
  assert.deepEqual(
    s.unowned.map((u) => `${u.secret} ${u.what} ${u.detail} at ${iso(u.at)}`),
    [],
    "Secrets the operator does not own are never changed or deleted",
  );
  assert.deepEqual(
    s.unknown.map((u) => `${u.secret}: ${u.detail} at ${iso(u.at)}`),
    [],
    "every managed Secret holds credentials AWS issued",
  );
}

export async function listResources(namespace: string): Promise<AWSAssumeRole[]> {
  const w = await world();
  const list = (await w.custom.listNamespacedCustomObject({
    group: "pincette.net",
    version: "v1",
    plural: "awsassumeroles",
    namespace,
  })) as { items: AWSAssumeRole[] };
  return list.items;
}

/**
 * Waits until everything AWS issued before the fault ended has expired, so an operator that failed to replace
 * any of it is caught by the checker, then checks once more that the fleet is whole. The ci profile waits at
 * most 30 s (the credentials issued last before the fault ended may then not be followed to their expiry).
 */
export async function soak(sc: Scenario, faultEnd: number): Promise<void> {
  const capMs = CI ? 30_000 : (sc.lifetimeSeconds + 5) * 1000;
  const until = Math.min(sc.checker.latestExpiryIssuedBefore(faultEnd) + 3_000, faultEnd + capMs);
  await sleepUntil(until);
  await sc.checker.waitRecovered(Date.now(), 30_000);
}

/** A random integer in [min, max]. */
export function randomBetween(min: number, max: number): number {
  return Math.round(min + Math.random() * (max - min));
}

function positiveInt(text: string | undefined): number | undefined {
  const n = Number(text);
  return text && Number.isInteger(n) && n > 0 ? n : undefined;
}
