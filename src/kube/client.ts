// The operator's Kubernetes transport: JSON over keep-alive connections (node:https; watches on a pool of their
// own, agents.ts), a deadline on every request, retries where client-go retries (retry.ts), errors carrying the
// API's status code, and watch streams.
//
// Why not @kubernetes/client-node at run time: its KubeConfig module imports the package's generated index, every
// API and model class with the ObjectSerializer, which alone takes a process from 42 to about 120 MiB of RSS
// (measured: `node -e "await import('@kubernetes/client-node/dist/config.js')"`), more than the whole operator's
// 90 MiB budget at 0 resources; its typed APIs also copy every answer into model classes. The operator needs
// a few REST verbs on a handful of paths, so it speaks them itself and keeps client-node for what is hard to get
// right: exec and auth-provider credentials (loaded lazily, only by a kubeconfig that uses them; see
// kubeconfig.ts), and, in tests, a full typed client. Types (`import type`) still come from client-node.
import https from "node:https";
import type { IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { Agents } from "./agents.ts";
import type { PoolKind } from "./agents.ts";
import { impersonationHeaders } from "./impersonation.ts";
import type { Impersonation } from "./impersonation.ts";
import {
  MAX_THROTTLE_RETRIES,
  ResetOnReusedSocketError,
  isConnectionReset,
  retryAfterMs,
  safeToResend,
} from "./retry.ts";

/** Default deadline of a request that names none. */
// node:http is taken with process.getBuiltinModule, not imported: importing it as an ES module builds its namespace,
// whose lazy getters load undici (about 13 MiB of RSS; src/lazy-imports.test.ts).
const http = process.getBuiltinModule("node:http");

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

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
  /**
   * The Authorization header of each request, if any (a token, a re-read token file, basic, exec plugins). After a
   * 401 it is asked again with `fresh` (a token file is then read at once); a different answer is tried once.
   */
  authorization?: (options?: { fresh?: boolean }) => Promise<string | undefined>;
  /** Impersonate-* headers on every request (kubeconfig `as`, `as-groups`, `as-uid`, `as-user-extra`). */
  impersonate?: Impersonation;
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

export class KubeClient {
  readonly connection: Connection;
  readonly requestTimeoutMs: number;
  private readonly base: URL;
  private readonly secure: boolean;
  private readonly agents: Agents;
  private readonly extraHeaders: Record<string, string | string[]>;

  constructor(connection: Connection, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.connection = connection;
    this.requestTimeoutMs = requestTimeoutMs;
    this.base = new URL(connection.server);
    if (this.base.protocol !== "https:" && this.base.protocol !== "http:")
      throw new Error(`unsupported API server URL ${connection.server}: want https:// or http://`);
    this.secure = this.base.protocol === "https:";
    this.agents = new Agents(connection, this.secure);
    this.extraHeaders = connection.impersonate ? impersonationHeaders(connection.impersonate) : {};
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
    const deadlineAtMs = Date.now() + this.requestTimeoutMs;
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const response = await this.exchange(method, path, options, "request", { signal, deadlineAtMs });
    const text = await readText(response, signal);
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) throw new KubeApiError(method, path, status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Opens a streaming GET (a watch) on the watch pool: the response once its headers arrived with 200, within the
   * request timeout; after that only `signal` ends it. Anything but 200 is a KubeApiError.
   */
  async stream(
    path: string,
    query: Record<string, string | undefined>,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    const deadlineAtMs = Date.now() + this.requestTimeoutMs;
    const connect = AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs)]);
    const response = await this.exchange("GET", path, { query }, "watch", {
      signal: connect,
      deadlineAtMs,
      bodySignal: signal,
    });
    if (response.statusCode !== 200) {
      const text = await readText(response, connect);
      throw new KubeApiError("GET", path, response.statusCode ?? 0, text);
    }
    return response;
  }

  /** Closes the pools' idle connections (in-flight requests and open watches finish). */
  close(): void {
    this.agents.close();
  }

  /**
   * Sends the request until it has an answer to give: waits out a 429's Retry-After (a few times, never past the
   * deadline), sends once more after a 401 when the credentials changed, and once more after a reset on a reused
   * keep-alive socket when that cannot apply a write twice (retry.ts).
   */
  private async exchange(
    method: string,
    path: string,
    options: RequestOptions,
    pool: PoolKind,
    limits: { signal: AbortSignal; deadlineAtMs: number; bodySignal?: AbortSignal },
  ): Promise<IncomingMessage> {
    const { signal, deadlineAtMs } = limits;
    let throttled = 0;
    let resent = false;
    let authorization = await this.connection.authorization?.();
    let reauthorized = false;
    for (;;) {
      let response: IncomingMessage;
      try {
        response = await this.send(method, path, options, pool, { ...limits, authorization });
      } catch (err) {
        if (!(err instanceof ResetOnReusedSocketError)) throw err;
        if (resent || !safeToResend(method, options.body)) throw err.cause;
        resent = true;
        continue;
      }
      if (response.statusCode === 429 && throttled < MAX_THROTTLE_RETRIES) {
        const waitMs = retryAfterMs(response.headers, Date.now());
        if (waitMs !== undefined && Date.now() + waitMs < deadlineAtMs) {
          response.resume(); // read to its end, so the socket goes back to the pool
          throttled++;
          await sleep(waitMs, undefined, { signal }).catch(() => {
            throw abortReason(signal);
          });
          continue;
        }
      }
      if (response.statusCode === 401 && !reauthorized && this.connection.authorization) {
        reauthorized = true;
        const fresh = await this.connection.authorization({ fresh: true });
        if (fresh !== undefined && fresh !== authorization) {
          response.resume();
          authorization = fresh;
          continue;
        }
      }
      return response;
    }
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
    pool: PoolKind,
    o: { signal: AbortSignal; bodySignal?: AbortSignal; authorization: string | undefined },
  ): Promise<IncomingMessage> {
    const connectSignal = o.signal;
    const bodySignal = o.bodySignal ?? connectSignal;
    const url = new URL(this.base.pathname.replace(/\/$/, "") + path, this.base);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const headers: Record<string, string | string[]> = {
      Accept: "application/json",
      "User-Agent": "aws-assume-role-operator",
      ...this.extraHeaders,
    };
    if (o.authorization) headers.Authorization = o.authorization;
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers["Content-Type"] = options.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    connectSignal.throwIfAborted();
    const agent = this.agents.get(pool);
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = (this.secure ? https : http).request(url, { method, headers, agent });
      // Rejected here as well: a request still queued for a socket in the agent emits nothing when destroyed
      // (Node 24), so without this a deadline would not end a request that waits for a free socket.
      const abort = () => {
        request.destroy(abortReason(connectSignal));
        reject(abortReason(connectSignal));
      };
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
        // Only before a response: afterwards errors belong to the response stream.
        const stale = request.reusedSocket && !connectSignal.aborted && isConnectionReset(err);
        reject(stale ? new ResetOnReusedSocketError(err) : err);
      });
      request.end(payload);
    });
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
