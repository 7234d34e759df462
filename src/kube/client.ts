// The operator's Kubernetes transport: JSON over one keep-alive connection pool (node:https), with a deadline on
// every request, errors carrying the API's status code, and watch streams.
//
// Why not @kubernetes/client-node at run time: its KubeConfig module imports the package's generated index, every
// API and model class with the ObjectSerializer, which alone takes a process from 42 to about 120 MiB of RSS
// (measured: `node -e "await import('@kubernetes/client-node/dist/config.js')"`), more than the whole operator's
// 90 MiB budget at 0 resources; its typed APIs also copy every answer into model classes. The operator needs
// a few REST verbs on a handful of paths, so it speaks them itself and keeps client-node for what is hard to get
// right: exec and auth-provider credentials (loaded lazily, only by a kubeconfig that uses them; see
// kubeconfig.ts), and, in tests, a full typed client. Types (`import type`) still come from client-node.
import http from "node:http";
import https from "node:https";
import { readFileSync, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";

/** Default deadline of a request that names none. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** How often file-based TLS material (CA, client certificate and key) is checked for a change. */
const TLS_RECHECK_MS = 10_000;
/** Keep-alive sockets per pool; watches hold one each for as long as they run. */
const MAX_SOCKETS = 256;

/** Certificate material, inline or from a file that may be rewritten (rotated) while the operator runs. */
export type TlsSource = { data: Buffer } | { file: string };

/** Everything needed to talk to one API server, resolved from a kubeconfig or the Pod's service account. */
export interface Connection {
  /** e.g. https://10.96.0.1:443, possibly with a path prefix (a proxy in front of the API server). */
  server: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  ca?: TlsSource;
  cert?: TlsSource;
  key?: TlsSource;
  /** The Authorization header of each request, if any (a token, a re-read token file, basic, exec plugins). */
  authorization?: () => Promise<string | undefined>;
}

/** A non-2xx answer of the API server; `code` and `statusCode` are the HTTP status (errors.ts reads them). */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly code: number;
  /** The API's Status.reason, e.g. "AlreadyExists", "Conflict", when it sent a Status object. */
  readonly reason: string | undefined;
  readonly body: unknown;

  constructor(method: string, path: string, status: number, text: string) {
    const body = parseJson(text);
    const message = (body as { message?: unknown } | undefined)?.message;
    super(
      typeof message === "string"
        ? `${status}: ${message}`
        : `${method} ${path.split("?")[0]}: HTTP ${status}`,
    );
    this.name = "KubeApiError";
    this.statusCode = status;
    this.code = status;
    const reason = (body as { reason?: unknown } | undefined)?.reason;
    this.reason = typeof reason === "string" ? reason : undefined;
    this.body = body;
  }
}

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Content-Type of the body, e.g. merge patch; default application/json. */
  contentType?: string;
  /** Aborts the request (the reconcile's deadline); the client's own per-request timeout applies too. */
  signal?: AbortSignal | undefined;
}

export const MERGE_PATCH = "application/merge-patch+json";

interface Pool {
  key: string;
  agent: http.Agent;
  checkedAtMs: number;
}

export class KubeClient {
  readonly connection: Connection;
  readonly requestTimeoutMs: number;
  private readonly base: URL;
  private readonly secure: boolean;
  private pool: Pool | undefined;

  constructor(connection: Connection, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.connection = connection;
    this.requestTimeoutMs = requestTimeoutMs;
    this.base = new URL(connection.server);
    if (this.base.protocol !== "https:" && this.base.protocol !== "http:")
      throw new Error(`unsupported API server URL ${connection.server}: want https:// or http://`);
    this.secure = this.base.protocol === "https:";
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("GET", path, options);
  }

  /** GET that answers undefined for 404. */
  async getIfExists<T>(path: string, options?: RequestOptions): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", path, options);
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  create<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("POST", path, { ...options, body });
  }

  replace<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PUT", path, { ...options, body });
  }

  mergePatch<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PATCH", path, { ...options, body, contentType: MERGE_PATCH });
  }

  delete<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("DELETE", path, { ...options, ...(body === undefined ? {} : { body }) });
  }

  /** One request; the parsed JSON answer, or KubeApiError for anything but 2xx. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const response = await this.send(method, path, options, signal);
    const text = await readText(response, signal);
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) throw new KubeApiError(method, path, status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Opens a streaming GET (a watch): the response once its headers arrived with 200, within the request
   * timeout; after that only `signal` ends it. Anything but 200 is a KubeApiError.
   */
  async stream(
    path: string,
    query: Record<string, string | undefined>,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    const connect = AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs)]);
    const response = await this.send("GET", path, { query }, connect, signal);
    if (response.statusCode !== 200) {
      const text = await readText(response, connect);
      throw new KubeApiError("GET", path, response.statusCode ?? 0, text);
    }
    return response;
  }

  /** Closes the pool's idle connections (in-flight requests finish). */
  close(): void {
    this.pool?.agent.destroy();
    this.pool = undefined;
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
    connectSignal: AbortSignal,
    bodySignal: AbortSignal = connectSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(this.base.pathname.replace(/\/$/, "") + path, this.base);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string> = {
      Accept: "application/json",
      "User-Agent": "aws-assume-role-operator",
    };
    const authorization = await this.connection.authorization?.();
    if (authorization) headers.Authorization = authorization;
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers["Content-Type"] = options.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    connectSignal.throwIfAborted();
    const agent = this.agent();
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = (this.secure ? https : http).request(url, { method, headers, agent });
      const abort = () => request.destroy(abortReason(connectSignal));
      connectSignal.addEventListener("abort", abort, { once: true });
      request.on("response", (response) => {
        connectSignal.removeEventListener("abort", abort);
        if (bodySignal.aborted) response.destroy(abortReason(bodySignal));
        else {
          // Removed once the answer is read, so a long deadline does not keep every answer alive until it fires.
          const abortBody = () => response.destroy(abortReason(bodySignal));
          bodySignal.addEventListener("abort", abortBody, { once: true });
          response.once("close", () => bodySignal.removeEventListener("abort", abortBody));
        }
        resolve(response);
      });
      request.on("error", (err) => {
        connectSignal.removeEventListener("abort", abort);
        reject(err);
      });
      request.end(payload);
    });
  }

  /** The pool for the current TLS settings; a rewritten certificate file gets a new one. */
  private agent(): http.Agent {
    const now = Date.now();
    if (this.pool && now - this.pool.checkedAtMs < TLS_RECHECK_MS) return this.pool.agent;
    const key = this.tlsKey();
    if (this.pool?.key === key) {
      this.pool.checkedAtMs = now;
      return this.pool.agent;
    }
    const old = this.pool?.agent;
    const options = {
      keepAlive: true,
      maxSockets: MAX_SOCKETS,
      maxFreeSockets: 32,
      scheduling: "lifo" as const,
    };
    const agent = this.secure
      ? new https.Agent({
          ...options,
          rejectUnauthorized: !this.connection.insecureSkipTlsVerify,
          ...(this.connection.tlsServerName ? { servername: this.connection.tlsServerName } : {}),
          ...tlsMaterial("ca", this.connection.ca),
          ...tlsMaterial("cert", this.connection.cert),
          ...tlsMaterial("key", this.connection.key),
        })
      : new http.Agent(options);
    this.pool = { key, agent, checkedAtMs: now };
    // Requests still running on the old pool finish; its idle sockets go once they are released.
    if (old) setTimeout(() => old.destroy(), 60_000).unref();
    return agent;
  }

  private tlsKey(): string {
    const { ca, cert, key } = this.connection;
    return JSON.stringify([stamp(ca), stamp(cert), stamp(key)]);
  }
}

function tlsMaterial(name: "ca" | "cert" | "key", source: TlsSource | undefined): Record<string, Buffer> {
  if (!source) return {};
  if ("data" in source) return { [name]: source.data };
  // Read when a pool is made; the pool lives until the file's modification time or size changes.
  return { [name]: readFileSync(source.file) };
}

function stamp(source: TlsSource | undefined): string | undefined {
  if (!source || "data" in source) return undefined;
  try {
    const s = statSync(source.file);
    return `${source.file}@${s.mtimeMs}:${s.size}`;
  } catch {
    return `${source.file}@missing`;
  }
}

function readText(response: IncomingMessage, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const abort = () => response.destroy(abortReason(signal));
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () => {
      signal.removeEventListener("abort", abort);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    response.on("error", (err) => {
      signal.removeEventListener("abort", abort);
      reject(err);
    });
    response.on("close", () => {
      if (!response.complete) {
        signal.removeEventListener("abort", abort);
        reject(
          signal.aborted ? abortReason(signal) : new Error("the API server closed the connection mid-answer"),
        );
      }
    });
  });
}

/** The abort's reason as an Error (a TimeoutError for deadlines), so callers can tell a deadline from a failure. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason ?? "aborted"));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
