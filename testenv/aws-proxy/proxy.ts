// The AWS proxy of the test world: sits between the operator's AWS SDK clients and moto, records every
// request, injects faults on demand and shortens the lifetime of credentials and ECR tokens that pass
// through. Only node:http. Control API (same as the methods of AwsProxy) under /__proxy/ on the same port.
import * as http from "node:http";
import { randomUUID } from "node:crypto";
import {
  detectRequest,
  errorResponse,
  responseKind,
  rewriteCredentialResponse,
  shouldBufferRequestBody,
  throttleError,
  unavailableError,
  type HttpResponseParts,
  type RequestInfo,
} from "./protocol.ts";
import type { FaultRule, Lifetime, ProxyHealth, ProxyRecord, RecordFilter } from "./types.ts";

export type {
  FaultKind,
  FaultRule,
  IssuedCredentials,
  Lifetime,
  ProxyHealth,
  ProxyRecord,
  RecordFilter,
} from "./types.ts";

export interface AwsProxyOptions {
  /** moto's base URL, e.g. http://127.0.0.1:5000 */
  upstream: string;
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** Randomness for fault probabilities, [0, 1). Default Math.random. */
  random?: () => number;
  /** Clock in epoch ms for lifetime rewrites. Default Date.now. */
  now?: () => number;
  /** Oldest records are dropped beyond this many (default 100000). */
  maxRecords?: number;
  /**
   * Key shared with the test world's registry (testenv/registry): ECR tokens are then ones that registry accepts
   * until they expire, instead of moto's fixed token.
   */
  ecrTokenKey?: string;
}

export interface AwsProxy {
  url: string;
  records(filter?: RecordFilter): ProxyRecord[];
  clearRecords(): void;
  setFaults(rules: FaultRule[]): void;
  clearFaults(): void;
  setLifetime(l: Lifetime): void;
  /** Clears records, faults and lifetime. */
  reset(): void;
  close(): Promise<void>;
}

const CONTROL_PREFIX = "/__proxy/";
const MAX_BUFFERED_BODY = 16 * 1024 * 1024;
const MAX_SESSIONS = 100000;
const FAULT_KINDS = new Set(["throttle", "unavailable", "latency", "drop", "error", "hang"]);
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

interface ActiveRule {
  rule: FaultRule;
  remaining: number | undefined;
}

function copyHeaders(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Throws a readable error if `rules` is not a valid FaultRule[]. */
export function validateFaultRules(rules: unknown): FaultRule[] {
  if (!Array.isArray(rules)) throw new Error("fault rules must be a JSON array");
  rules.forEach((r: unknown, i) => {
    if (!r || typeof r !== "object") throw new Error(`fault rule ${i} must be an object`);
    const rule = r as Record<string, unknown>;
    if (typeof rule["kind"] !== "string" || !FAULT_KINDS.has(rule["kind"]))
      throw new Error(`fault rule ${i}: kind must be one of ${[...FAULT_KINDS].join(", ")}`);
    for (const k of ["service", "action", "sessionPrefix", "code", "message"])
      if (rule[k] !== undefined && typeof rule[k] !== "string")
        throw new Error(`fault rule ${i}: ${k} must be a string`);
    for (const k of ["probability", "count", "latencyMs", "httpStatus"])
      if (rule[k] !== undefined && typeof rule[k] !== "number")
        throw new Error(`fault rule ${i}: ${k} must be a number`);
  });
  return rules as FaultRule[];
}

function validateLifetime(l: unknown): Lifetime {
  if (!l || typeof l !== "object" || Array.isArray(l)) throw new Error("lifetime must be a JSON object");
  const o = l as Record<string, unknown>;
  const out: Lifetime = {};
  for (const k of ["stsSeconds", "ecrSeconds"] as const) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`lifetime.${k} must be a number`);
    out[k] = v;
  }
  for (const k of ["ecrPassThrough", "rejectExpired"] as const) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "boolean") throw new Error(`lifetime.${k} must be a boolean`);
    out[k] = v;
  }
  return out;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error(`body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function startAwsProxy(options: AwsProxyOptions): Promise<AwsProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== "http:") throw new Error(`upstream must be http://, got ${options.upstream}`);
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const maxRecords = options.maxRecords ?? 100000;
  const agent = new http.Agent({ keepAlive: true });

  let seq = 0;
  let records: ProxyRecord[] = [];
  let faults: ActiveRule[] = [];
  let lifetime: Lifetime = {};
  // access key id -> RoleSessionName of the AssumeRole that issued it. Survives clearRecords/reset:
  // credentials issued earlier stay in use.
  const sessions = new Map<string, string>();
  // access key id -> Expiration (epoch ms) the client received with it; kept like `sessions`.
  const expirations = new Map<string, number>();
  // Responses held by "hang" faults, ended when the proxy closes.
  const hanging = new Set<http.ServerResponse>();

  function addRecord(r: ProxyRecord): void {
    records.push(r);
    if (records.length > maxRecords) records.splice(0, records.length - maxRecords);
  }

  function pickFault(info: RequestInfo): FaultRule | undefined {
    for (const active of faults) {
      const { rule } = active;
      if (rule.service !== undefined && rule.service !== info.service) continue;
      if (rule.action !== undefined && rule.action !== info.action) continue;
      if (rule.sessionPrefix !== undefined) {
        const session = info.params["RoleSessionName"];
        if (typeof session !== "string" || !session.startsWith(rule.sessionPrefix)) continue;
      }
      if (active.remaining !== undefined && active.remaining <= 0) continue;
      if (random() >= (rule.probability ?? 1)) continue;
      if (active.remaining !== undefined) active.remaining--;
      return rule;
    }
    return undefined;
  }

  const api = {
    records(filter: RecordFilter = {}): ProxyRecord[] {
      return records
        .filter(
          (r) =>
            (filter.service === undefined || r.service === filter.service) &&
            (filter.action === undefined || r.action === filter.action) &&
            (filter.sinceSeq === undefined || r.seq > filter.sinceSeq),
        )
        .map((r) => structuredClone(r));
    },
    clearRecords(): void {
      records = [];
    },
    setFaults(rules: FaultRule[]): void {
      faults = validateFaultRules(rules).map((rule) => ({ rule: { ...rule }, remaining: rule.count }));
    },
    clearFaults(): void {
      faults = [];
    },
    setLifetime(l: Lifetime): void {
      lifetime = validateLifetime(l);
    },
    reset(): void {
      records = [];
      faults = [];
      lifetime = {};
    },
  };

  function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
    const body = value === undefined ? "" : JSON.stringify(value);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  async function handleControl(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const route = `${req.method} ${url.pathname.slice(CONTROL_PREFIX.length).replace(/\/$/, "")}`;
    try {
      const body = ["PUT", "POST"].includes(req.method ?? "")
        ? (await readBody(req, 1024 * 1024)).toString("utf8")
        : "";
      const json = (): unknown => (body.trim() === "" ? undefined : JSON.parse(body));
      switch (route) {
        case "GET health": {
          const health: ProxyHealth = {
            ok: true,
            upstream: options.upstream,
            records: records.length,
            faults: faults.length,
            lifetime,
          };
          return sendJson(res, 200, health);
        }
        case "GET records": {
          const filter: RecordFilter = {};
          const service = url.searchParams.get("service");
          const action = url.searchParams.get("action");
          const sinceSeq = url.searchParams.get("sinceSeq");
          if (service) filter.service = service;
          if (action) filter.action = action;
          if (sinceSeq) {
            const n = Number(sinceSeq);
            if (!Number.isFinite(n)) return sendJson(res, 400, { error: "sinceSeq must be a number" });
            filter.sinceSeq = n;
          }
          return sendJson(res, 200, api.records(filter));
        }
        case "DELETE records":
          api.clearRecords();
          return sendJson(res, 200, { ok: true });
        case "PUT faults":
          api.setFaults(json() as FaultRule[]);
          return sendJson(res, 200, { ok: true });
        case "DELETE faults":
          api.clearFaults();
          return sendJson(res, 200, { ok: true });
        case "PUT lifetime":
          api.setLifetime((json() ?? {}) as Lifetime);
          return sendJson(res, 200, { ok: true });
        case "POST reset":
          api.reset();
          return sendJson(res, 200, { ok: true });
        default:
          return sendJson(res, 404, { error: `no control route ${route}` });
      }
    } catch (err) {
      return sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  async function handleAws(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const start = now();
    const startHr = performance.now();
    const buffered = shouldBufferRequestBody(req.headers);
    const body = buffered ? await readBody(req, MAX_BUFFERED_BODY) : undefined;
    const info = detectRequest({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      headers: req.headers,
      body: body ? body.toString("utf8") : "",
    });
    const record: ProxyRecord = {
      seq: ++seq,
      time: new Date(start).toISOString(),
      service: info.service,
      region: info.region,
      action: info.action,
      params: info.params,
      status: 0,
      durationMs: 0,
    };
    if (info.accessKeyId !== undefined) {
      record.accessKeyId = info.accessKeyId;
      const session = sessions.get(info.accessKeyId);
      if (session !== undefined) record.callerSession = session;
    }
    const finish = (status: number): void => {
      record.status = status;
      record.durationMs = Math.round((performance.now() - startHr) * 1000) / 1000;
      addRecord(record);
    };
    const sendParts = (parts: HttpResponseParts): void => {
      finish(parts.status);
      res.writeHead(parts.status, parts.headers);
      res.end(parts.body);
    };

    const expiration = info.accessKeyId === undefined ? undefined : expirations.get(info.accessKeyId);
    if (lifetime.rejectExpired && expiration !== undefined && start >= expiration) {
      record.rejected = "ExpiredToken";
      return sendParts(
        errorResponse(info, {
          status: 403,
          code: "ExpiredToken",
          message: "The security token included in the request is expired",
          requestId: randomUUID(),
        }),
      );
    }

    const fault = pickFault(info);
    if (fault) {
      record.fault = fault.kind;
      const requestId = randomUUID();
      switch (fault.kind) {
        case "throttle":
          return sendParts(throttleError(info, requestId));
        case "unavailable":
          return sendParts(unavailableError(info, requestId));
        case "error":
          return sendParts(
            errorResponse(info, {
              status: fault.httpStatus ?? 400,
              code: fault.code ?? "ValidationError",
              message: fault.message ?? "Injected by aws-proxy",
              requestId,
            }),
          );
        case "drop":
          finish(0);
          req.socket.destroy();
          return;
        case "hang":
          // Never answer: the request is recorded when the client gives up and closes the connection.
          hanging.add(res);
          res.on("close", () => {
            hanging.delete(res);
            finish(0);
          });
          return;
        case "latency":
          await new Promise((r) => setTimeout(r, fault.latencyMs ?? 1000));
          break;
      }
    }

    const kind = responseKind(info);
    const headers = copyHeaders(req.headers);
    if (body) headers["content-length"] = String(body.length);
    // Responses we rewrite must arrive uncompressed.
    if (kind !== "none") delete headers["accept-encoding"];

    const upReq = http.request({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port || 80,
      method: req.method,
      path: req.url,
      headers, // Host kept as the client sent it: the SigV4 signature covers it.
      agent,
    });
    upReq.on("response", (upRes) => {
      const status = upRes.statusCode ?? 502;
      const resHeaders = copyHeaders(upRes.headers);
      if (kind !== "none" && status < 300) {
        readBody(upRes, MAX_BUFFERED_BODY).then(
          (raw) => {
            const rewritten = rewriteCredentialResponse(
              kind,
              raw.toString("utf8"),
              now(),
              lifetime,
              options.ecrTokenKey,
            );
            if (rewritten.issued) {
              record.issued = rewritten.issued;
              const session = info.params["RoleSessionName"];
              if (rewritten.issued.accessKeyId && typeof session === "string") {
                sessions.set(rewritten.issued.accessKeyId, session);
                if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
              }
              const expires = Date.parse(rewritten.issued.expiration ?? "");
              if (rewritten.issued.accessKeyId && !Number.isNaN(expires)) {
                expirations.set(rewritten.issued.accessKeyId, expires);
                if (expirations.size > MAX_SESSIONS) expirations.delete(expirations.keys().next().value!);
              }
            }
            const out = Buffer.from(rewritten.body, "utf8");
            resHeaders["content-length"] = String(out.length);
            finish(status);
            res.writeHead(status, resHeaders);
            res.end(out);
          },
          (err: unknown) => {
            record.upstreamError = err instanceof Error ? err.message : String(err);
            finish(0);
            res.destroy();
          },
        );
        return;
      }
      res.writeHead(status, resHeaders);
      upRes.pipe(res, { end: false });
      upRes.on("end", () => {
        finish(status);
        res.end();
      });
      upRes.on("error", (err) => {
        record.upstreamError = err.message;
        finish(0);
        res.destroy();
      });
    });
    upReq.on("error", (err) => {
      record.upstreamError = err.message;
      if (res.headersSent) {
        finish(0);
        res.destroy();
        return;
      }
      const msg = `aws-proxy: upstream ${options.upstream} failed: ${err.message}\n`;
      finish(502);
      res.writeHead(502, { "content-type": "text/plain", "content-length": Buffer.byteLength(msg) });
      res.end(msg);
    });
    if (body) upReq.end(body);
    else req.pipe(upReq);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy.invalid");
    const handler = url.pathname.startsWith(CONTROL_PREFIX)
      ? handleControl(req, res, url)
      : handleAws(req, res);
    handler.catch((err: unknown) => {
      if (!res.headersSent) {
        const msg = `aws-proxy: ${err instanceof Error ? err.message : String(err)}\n`;
        res.writeHead(500, { "content-type": "text/plain", "content-length": Buffer.byteLength(msg) });
        res.end(msg);
      } else {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 30_000;

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("aws-proxy: unexpected server address");
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${address.port}`,
    ...api,
    close(): Promise<void> {
      return new Promise((resolve) => {
        for (const res of hanging) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
    },
  };
}
