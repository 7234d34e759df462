// A counting pass-through in front of kube-apiserver, so the benchmark can tell the operator's own requests from
// everyone else's (apiserver_request_total has no user or user-agent label). The operator gets a kubeconfig
// pointing at the tap (plain HTTP on loopback, the admin token unchanged); the tap forwards every request,
// watches included, to the real apiserver and records its verb and resource. The operator itself is unchanged.
import { request as httpsRequest, Agent } from "node:https";
import { createServer } from "node:http";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";

export interface TappedRequest {
  time: number;
  /** The verb as apiserver_request_total names it: GET, LIST, WATCH, POST, PUT, PATCH, DELETE. */
  verb: string;
  /** group/resource[/subresource], e.g. "secrets", "pincette.net/awsassumeroles/status". */
  resource: string;
  status?: number;
}

export interface ApiserverTap {
  url: string;
  /** Path of a kubeconfig that points at the tap. */
  kubeconfigPath: string;
  requests: TappedRequest[];
  /** Watch requests currently open through the tap. */
  openWatches(): number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "host",
]);

/** Verb and resource of a Kubernetes API request, named as in apiserver_request_total. */
export function classify(method: string, rawUrl: string): { verb: string; resource: string } {
  const url = new URL(rawUrl, "http://tap");
  const parts = url.pathname.split("/").filter(Boolean);
  let rest: string[];
  let group = "";
  if (parts[0] === "api") rest = parts.slice(2);
  else if (parts[0] === "apis") {
    group = parts[1] ?? "";
    rest = parts.slice(3);
  } else return { verb: method, resource: `(non-resource ${url.pathname})` };
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const [resource = "", name, sub] = rest;
  const full = `${group ? `${group}/` : ""}${resource}${sub ? `/${sub}` : ""}`;
  const collection = name === undefined;
  const verb =
    method === "GET"
      ? url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1"
        ? "WATCH"
        : collection
          ? "LIST"
          : "GET"
      : method;
  return { verb, resource: full };
}

export async function startApiserverTap(
  kubeConfig: KubeConfig,
  kubeconfigPath: string,
): Promise<ApiserverTap> {
  const cluster = kubeConfig.getCurrentCluster();
  const user = kubeConfig.getCurrentUser();
  if (!cluster || !user?.token)
    throw new Error("the tap needs a kubeconfig with a server and a bearer token");
  const upstream = new URL(cluster.server);
  const agent = new Agent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: !cluster.skipTLSVerify });
  const requests: TappedRequest[] = [];
  let watches = 0;

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const { verb, resource } = classify(req.method ?? "GET", req.url ?? "/");
    const record: TappedRequest = { time: Date.now(), verb, resource };
    requests.push(record);
    const watch = verb === "WATCH";
    if (watch) watches++;
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      if (watch) watches--;
    };
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const up = httpsRequest(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (upRes) => {
        record.status = upRes.statusCode;
        const out: OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(upRes.headers))
          if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(upRes.statusCode ?? 502, out);
        // Node holds the headers back until the first body chunk; a watch must see its 200 at once.
        res.flushHeaders();
        upRes.pipe(res);
        upRes.on("end", done);
        upRes.on("error", () => res.destroy());
      },
    );
    up.on("error", (err) => {
      done();
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`tap: ${err.message}`);
      } else res.destroy();
    });
    res.on("close", () => {
      done();
      up.destroy();
    });
    req.pipe(up);
  };

  const server = createServer(forward);
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // JSON is YAML: client-node reads it as a kubeconfig. Plain HTTP needs insecure-skip-tls-verify in client-node.
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "tap", cluster: { server: url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "tap", user: { token: user.token } }],
      contexts: [{ name: "tap", context: { cluster: "tap", user: "tap" } }],
      "current-context": "tap",
    }),
    { mode: 0o600 },
  );
  return {
    url,
    kubeconfigPath,
    requests,
    openWatches: () => watches,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** Counts of tapped requests since `since` (ms), keyed "VERB resource", sorted. */
export function tapCounts(
  requests: readonly TappedRequest[],
  since = 0,
  until = Infinity,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of requests) {
    if (r.time < since || r.time >= until) continue;
    const key = `${r.verb} ${r.resource}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
