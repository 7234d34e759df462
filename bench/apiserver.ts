// The kube-apiserver's own view: apiserver_request_total from /metrics (by verb and resource, every client
// together: the metric has no user or user-agent label) and /version.
import { request } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** Request counts keyed "VERB resource[/subresource]" (group prefixed for non-core resources). */
export type RequestCounts = Map<string, number>;

async function get(kubeConfig: KubeConfig, path: string): Promise<string> {
  const cluster = kubeConfig.getCurrentCluster();
  const token = kubeConfig.getCurrentUser()?.token;
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(path, cluster.server);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "GET",
        headers: token ? { authorization: `Bearer ${token}` } : {},
        rejectUnauthorized: !cluster.skipTLSVerify,
        timeout: 30_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(body)
            : reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`)),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

function labels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** apiserver_request_total summed over code, scope, version and component. */
export async function apiserverRequests(kubeConfig: KubeConfig): Promise<RequestCounts> {
  const text = await get(kubeConfig, "/metrics");
  const counts: RequestCounts = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const close = line.lastIndexOf("}");
    const l = labels(line.slice("apiserver_request_total{".length, close));
    const value = Number(line.slice(close + 1).trim());
    const resource = l.resource
      ? `${l.group ? `${l.group}/` : ""}${l.resource}${l.subresource ? `/${l.subresource}` : ""}`
      : `(non-resource ${l.subresource || "?"})`;
    const key = `${l.verb} ${resource}`;
    counts.set(key, (counts.get(key) ?? 0) + value);
  }
  return counts;
}

/** after − before, without zero rows, sorted by key. */
export function diffCounts(before: RequestCounts, after: RequestCounts): RequestCounts {
  const out: RequestCounts = new Map();
  for (const [key, value] of after) {
    const d = value - (before.get(key) ?? 0);
    if (d !== 0) out.set(key, d);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Sum of the rows whose verb is one of `verbs` and whose resource is `resource`. */
export function countOf(counts: RequestCounts, resource: string, verbs: readonly string[]): number {
  let sum = 0;
  for (const [key, value] of counts) {
    const [verb, res] = key.split(" ");
    if (res === resource && verbs.includes(verb!)) sum += value;
  }
  return sum;
}

export async function apiserverVersion(kubeConfig: KubeConfig): Promise<string> {
  try {
    return (JSON.parse(await get(kubeConfig, "/version")) as { gitVersion?: string }).gitVersion ?? "unknown";
  } catch {
    return "unknown";
  }
}
