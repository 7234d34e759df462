// HTTP client for the control API of the test world's AWS proxy (testenv/aws-proxy), for tests and scripts
// that drive a proxy running in another process (e.g. started by scripts/testenv).
import type {
  FaultRule,
  Lifetime,
  ProxyHealth,
  ProxyRecord,
  RecordFilter,
} from "../../testenv/aws-proxy/types.ts";

export type {
  FaultKind,
  FaultRule,
  IssuedCredentials,
  Lifetime,
  ProxyHealth,
  ProxyRecord,
  RecordFilter,
} from "../../testenv/aws-proxy/types.ts";

/** STS refuses every AssumeRole, as for a trust policy that does not name the operator. */
export const ACCESS_DENIED: FaultRule = {
  service: "sts",
  action: "AssumeRole",
  kind: "error",
  httpStatus: 403,
  code: "AccessDenied",
  message: "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: sts:AssumeRole",
};

export class AwsProxyClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "content-type": "application/json" };
    }
    const res = await fetch(`${this.baseUrl}/__proxy/${path}`, init);
    const text = await res.text();
    if (!res.ok) throw new Error(`aws-proxy ${method} /__proxy/${path}: HTTP ${res.status}: ${text}`);
    return text === "" ? undefined : JSON.parse(text);
  }

  async health(): Promise<ProxyHealth> {
    return (await this.call("GET", "health")) as ProxyHealth;
  }

  async records(filter: RecordFilter = {}): Promise<ProxyRecord[]> {
    const q = new URLSearchParams();
    if (filter.service !== undefined) q.set("service", filter.service);
    if (filter.action !== undefined) q.set("action", filter.action);
    if (filter.sinceSeq !== undefined) q.set("sinceSeq", String(filter.sinceSeq));
    const qs = q.toString();
    return (await this.call("GET", qs ? `records?${qs}` : "records")) as ProxyRecord[];
  }

  async clearRecords(): Promise<void> {
    await this.call("DELETE", "records");
  }

  async setFaults(rules: FaultRule[]): Promise<void> {
    await this.call("PUT", "faults", rules);
  }

  async clearFaults(): Promise<void> {
    await this.call("DELETE", "faults");
  }

  async setLifetime(l: Lifetime): Promise<void> {
    await this.call("PUT", "lifetime", l);
  }

  async reset(): Promise<void> {
    await this.call("POST", "reset");
  }
}
