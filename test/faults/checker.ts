// The fault suite's referee. Every second it samples the scenario namespace and records
//   (a) a managed Secret holding credentials that AWS (the proxy's record of what it issued) says have expired,
//   (b) any change to, or deletion of, a Secret the operator does not own (the decoys),
// and it measures how long the fleet takes to recover after a fault ends and how many AWS calls were spent.
// Expiry is judged by the issuer, not by the operator's own annotations: a Secret's access key id is looked up in
// the AssumeRole responses the proxy recorded. ECR tokens from moto are the same string for every call, so an
// EcrDockerConfigJson Secret is matched to the last GetAuthorizationToken made under its resource's session
// before the Secret's last-refresh-time.
import type { CoreV1Api, CustomObjectsApi, V1Secret } from "@kubernetes/client-node";
import type { AwsProxy, ProxyRecord } from "../../testenv/aws-proxy/proxy.ts";
import type { AWSAssumeRole } from "../../src/api/schema.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, SecretAnnotation } from "../../src/domain/plan.ts";
import { roleSessionName } from "../../src/domain/naming.ts";

export const DECOY_LABEL = "faults.aar.test/decoy";

export interface CheckerOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  namespace: string;
  /** Proxies the operator(s) talk to AWS through; more can be added with addProxy. */
  proxies: AwsProxy[];
  /** Resources whose Secret name a decoy holds: they must stay Ready=False, reason SecretConflict. */
  conflicts: string[];
  /**
   * How long the operator may take to react once AWS is back: an expiry that falls inside an AWS outage or
   * within this long after it is excused (AWS was not reachable long enough before expiry).
   */
  reactionMs: number;
  intervalMs?: number;
  /** Extra words for a recovery timeout, e.g. which operator processes have exited. */
  diagnose?: () => string;
}

export interface ExpiredObservation {
  at: number;
  secret: string;
  /** Access key id, or "ecr-token". */
  credential: string;
  expiredAt: number;
  /** AWS was down at expiry (or came back less than reactionMs before it); set by summary(). */
  excused: boolean;
}

export interface UnownedTouch {
  at: number;
  secret: string;
  what: "modified" | "deleted";
  detail: string;
}

export interface UnknownCredentials {
  at: number;
  secret: string;
  detail: string;
}

export interface AwsCalls {
  stsTotal: number;
  stsOk: number;
  ecrTotal: number;
  ecrOk: number;
}

export interface CheckerSummary {
  samples: number;
  sampleErrors: number;
  expired: ExpiredObservation[];
  unexcusedExpired: ExpiredObservation[];
  unowned: UnownedTouch[];
  unknown: UnknownCredentials[];
  aws: AwsCalls;
}

interface DecoySnapshot {
  uid: string;
  resourceVersion: string;
}

interface EcrIssue {
  time: number;
  expiresAt: number;
}

const SAMPLE_TIMEOUT_MS = 5_000;

export class FaultChecker {
  private readonly o: CheckerOptions;
  private readonly proxies: AwsProxy[];
  private readonly seenCount = new Map<AwsProxy, number>();
  /** Access key id → expiry, as issued by STS (through a proxy). */
  private readonly keyExpiry = new Map<string, number>();
  /** RoleSessionName → successful ECR token issues, oldest first. */
  private readonly ecrIssues = new Map<string, EcrIssue[]>();
  private readonly records: ProxyRecord[] = [];
  private readonly decoys = new Map<string, DecoySnapshot>();
  private readonly outages: { start: number; end: number }[] = [];
  private readonly expired: ExpiredObservation[] = [];
  private readonly unowned: UnownedTouch[] = [];
  private readonly unknown: UnknownCredentials[] = [];
  private readonly unavailable = new Set<string>();
  private samples = 0;
  private sampleErrors = 0;
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(options: CheckerOptions) {
    this.o = options;
    this.proxies = [...options.proxies];
  }

  addProxy(proxy: AwsProxy): void {
    this.proxies.push(proxy);
  }

  /** Resources whose AWS calls never answer: they must report Ready=False, AWSUnavailable, and own no Secret. */
  expectUnavailable(names: string[]): void {
    for (const name of names) this.unavailable.add(name);
  }

  /** Records a window in which AWS could not be reached (expiries in it are excused). */
  awsOutage(start: number, end: number): void {
    this.outages.push({ start, end });
  }

  /** Snapshots the decoys (Secrets labelled DECOY_LABEL) and starts sampling every second. */
  async start(): Promise<void> {
    const decoys = await this.o.core.listNamespacedSecret({
      namespace: this.o.namespace,
      labelSelector: `${DECOY_LABEL}=true`,
    });
    for (const s of decoys.items) {
      this.decoys.set(s.metadata!.name!, {
        uid: s.metadata!.uid!,
        resourceVersion: s.metadata!.resourceVersion!,
      });
    }
    this.running = this.loop();
  }

  async stop(): Promise<CheckerSummary> {
    this.stopping = true;
    await this.running;
    return this.summary();
  }

  summary(): CheckerSummary {
    this.pullRecords();
    // Judged now: an outage is reported once it is over, after the expiries it excuses were observed.
    const expired = this.expired.map((e) => ({ ...e, excused: this.excused(e.expiredAt) }));
    return {
      samples: this.samples,
      sampleErrors: this.sampleErrors,
      expired,
      unexcusedExpired: expired.filter((e) => !e.excused),
      unowned: [...this.unowned],
      unknown: [...this.unknown],
      aws: this.awsCalls(),
    };
  }

  awsCalls(sinceTime = 0): AwsCalls {
    this.pullRecords();
    const recent = this.records.filter((r) => Date.parse(r.time) >= sinceTime);
    const sts = recent.filter((r) => r.service === "sts" && r.action === "AssumeRole");
    const ecr = recent.filter((r) => r.service === "ecr" && r.action === "GetAuthorizationToken");
    return {
      stsTotal: sts.length,
      stsOk: sts.filter((r) => r.status === 200).length,
      ecrTotal: ecr.length,
      ecrOk: ecr.filter((r) => r.status === 200).length,
    };
  }

  /** The latest expiry of any credentials or ECR token AWS issued before `time` (0 when none). */
  latestExpiryIssuedBefore(time: number): number {
    this.pullRecords();
    let latest = 0;
    for (const r of this.records) {
      if (r.status !== 200 || !r.issued || Date.parse(r.time) >= time) continue;
      const expiry = Date.parse(r.issued.expiration ?? r.issued.expiresAt ?? "");
      if (!Number.isNaN(expiry)) latest = Math.max(latest, expiry);
    }
    return latest;
  }

  /** Every record of every proxy so far. */
  allRecords(): ProxyRecord[] {
    this.pullRecords();
    return [...this.records];
  }

  /**
   * Polls until every resource is Ready=True (conflicts: Ready=False, SecretConflict) and every Secret holds
   * credentials AWS still considers valid. Returns the milliseconds from `since`; throws after `timeoutMs`.
   */
  async waitRecovered(since: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = "not checked yet";
    for (;;) {
      try {
        const why = await this.notRecovered();
        if (why === undefined) return Date.now() - since;
        last = why;
      } catch (err) {
        last = `error: ${(err as Error).message}`;
      }
      if (Date.now() > deadline) {
        const hint = this.o.diagnose?.() ?? "";
        throw new Error(
          `not recovered ${Math.round(timeoutMs / 1000)} s after the fault ended: ${last}${hint ? `; ${hint}` : ""}`,
        );
      }
      await sleep(500);
    }
  }

  /** Why the fleet is not recovered now, or undefined when it is. */
  async notRecovered(): Promise<string | undefined> {
    const now = Date.now();
    const [resources, secrets] = await Promise.all([this.listResources(), this.listManaged()]);
    this.pullRecords();
    const byName = new Map(secrets.map((s) => [s.metadata!.name!, s]));
    const problems: string[] = [];
    for (const r of resources) {
      const name = r.metadata.name!;
      const ready = r.status?.conditions?.find((c) => c.type === "Ready");
      if (this.unavailable.has(name)) {
        if (ready?.status !== "False" || ready.reason !== "AWSUnavailable")
          problems.push(`${name}: expected AWSUnavailable, has ${ready?.status}/${ready?.reason}`);
        if (byName.has(r.spec.secretName)) problems.push(`${name}: has a Secret though AWS never answered`);
        continue;
      }
      if (this.o.conflicts.includes(name)) {
        if (ready?.status !== "False" || ready.reason !== "SecretConflict")
          problems.push(`${name}: expected SecretConflict, has ${ready?.status}/${ready?.reason}`);
        continue;
      }
      if (ready?.status !== "True") {
        problems.push(`${name}: Ready=${ready?.status ?? "none"} ${ready?.reason ?? ""}`);
        continue;
      }
      if (ready.observedGeneration !== r.metadata.generation) {
        problems.push(`${name}: status is for generation ${ready.observedGeneration}`);
        continue;
      }
      const secret = byName.get(r.spec.secretName);
      const owner = secret?.metadata?.ownerReferences?.find((o) => o.controller);
      if (!secret || owner?.uid !== r.metadata.uid) {
        problems.push(`${name}: no owned Secret ${r.spec.secretName}`);
        continue;
      }
      const validity = this.validity(secret);
      if (typeof validity === "string") problems.push(`${name}: ${validity}`);
      else if (validity.expiresAt <= now) problems.push(`${name}: credentials expired`);
    }
    if (problems.length === 0) return undefined;
    return `${problems.length} of ${resources.length} resources not recovered, e.g. ${problems.slice(0, 3).join("; ")}`;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const started = Date.now();
      try {
        await withTimeout(this.sample(), SAMPLE_TIMEOUT_MS);
        this.samples++;
      } catch {
        this.sampleErrors++; // e.g. while kube-apiserver restarts
      }
      await sleep(Math.max(0, (this.o.intervalMs ?? 1000) - (Date.now() - started)));
    }
  }

  private async sample(): Promise<void> {
    // The time before the read: whatever the read returns was in the Secret at or after this moment.
    const at = Date.now();
    const [managed, decoys] = await Promise.all([
      this.listManaged(),
      this.o.core.listNamespacedSecret({ namespace: this.o.namespace, labelSelector: `${DECOY_LABEL}=true` }),
    ]);
    this.pullRecords();

    for (const secret of managed) {
      const name = secret.metadata!.name!;
      if (this.decoys.has(name)) continue;
      const validity = this.validity(secret);
      if (typeof validity === "string") {
        this.unknown.push({ at, secret: name, detail: validity });
        continue;
      }
      if (validity.expiresAt < at) {
        this.expired.push({
          at,
          secret: name,
          credential: validity.credential,
          expiredAt: validity.expiresAt,
          excused: false,
        });
      }
    }

    const present = new Map(decoys.items.map((s) => [s.metadata!.name!, s]));
    for (const [name, snapshot] of this.decoys) {
      const now = present.get(name);
      if (!now || now.metadata?.uid !== snapshot.uid) {
        if (!this.unowned.some((u) => u.secret === name && u.what === "deleted"))
          this.unowned.push({
            at,
            secret: name,
            what: "deleted",
            detail: now ? "replaced by a new object" : "",
          });
      } else if (now.metadata?.resourceVersion !== snapshot.resourceVersion) {
        const detail = `resourceVersion ${snapshot.resourceVersion} → ${now.metadata?.resourceVersion}`;
        if (!this.unowned.some((u) => u.secret === name && u.detail === detail))
          this.unowned.push({ at, secret: name, what: "modified", detail });
      }
    }
  }

  private excused(expiredAt: number): boolean {
    return this.outages.some((o) => expiredAt >= o.start && expiredAt <= o.end + this.o.reactionMs);
  }

  /** The issuer's expiry of the credentials in a managed Secret, or why it cannot be told. */
  private validity(secret: V1Secret): { credential: string; expiresAt: number } | string {
    const data = secret.data ?? {};
    const decode = (key: string) =>
      data[key] ? Buffer.from(data[key], "base64").toString("utf8") : undefined;
    const keyId =
      decode("awsAccessKeyId") ?? /^aws_access_key_id=(\S+)$/m.exec(decode("credentials") ?? "")?.[1];
    if (keyId !== undefined) {
      const expiresAt = this.keyExpiry.get(keyId);
      return expiresAt === undefined
        ? `access key ${keyId} was never issued through the proxy`
        : { credential: keyId, expiresAt };
    }
    if (data[".dockerconfigjson"] !== undefined) {
      const owner = secret.metadata?.ownerReferences?.find((o) => o.controller)?.name;
      const refreshed = Date.parse(secret.metadata?.annotations?.[SecretAnnotation.lastRefreshTime] ?? "");
      if (!owner || Number.isNaN(refreshed)) return "docker config without owner or last-refresh-time";
      const issues = this.ecrIssues.get(roleSessionName(this.o.namespace, owner)) ?? [];
      const issue = issues.filter((i) => i.time <= refreshed).at(-1);
      return issue
        ? { credential: "ecr-token", expiresAt: issue.expiresAt }
        : "ECR token never issued through the proxy for this resource";
    }
    return `no credentials in data keys [${Object.keys(data).join(", ")}]`;
  }

  private pullRecords(): void {
    for (const proxy of this.proxies) {
      // Not `sinceSeq`: a record gets its seq when the request arrives but is stored when it finishes, so
      // concurrent requests are stored out of seq order. The proxy only appends (it drops the oldest beyond
      // 100,000 records, far more than a scenario makes), so the records not yet seen are the tail.
      const all = proxy.records();
      const seen = this.seenCount.get(proxy) ?? 0;
      this.seenCount.set(proxy, all.length);
      for (const r of all.slice(seen)) {
        this.records.push(r);
        if (r.status !== 200 || !r.issued) continue;
        if (r.action === "AssumeRole" && r.issued.accessKeyId && r.issued.expiration) {
          this.keyExpiry.set(r.issued.accessKeyId, Date.parse(r.issued.expiration));
        }
        if (r.action === "GetAuthorizationToken" && r.callerSession && r.issued.expiresAt) {
          const list = this.ecrIssues.get(r.callerSession) ?? [];
          list.push({ time: Date.parse(r.time), expiresAt: Date.parse(r.issued.expiresAt) });
          list.sort((a, b) => a.time - b.time);
          this.ecrIssues.set(r.callerSession, list);
        }
      }
    }
  }

  private async listManaged(): Promise<V1Secret[]> {
    const list = await this.o.core.listNamespacedSecret({
      namespace: this.o.namespace,
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
    });
    return list.items;
  }

  private async listResources(): Promise<AWSAssumeRole[]> {
    const list = (await this.o.custom.listNamespacedCustomObject({
      group: "pincette.net",
      version: "v1",
      plural: "awsassumeroles",
      namespace: this.o.namespace,
    })) as { items: AWSAssumeRole[] };
    return list.items;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function sleepUntil(epochMs: number): Promise<void> {
  return sleep(Math.max(0, epochMs - Date.now()));
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
