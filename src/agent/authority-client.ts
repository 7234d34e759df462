// The agent's one outside call: GET <authority-url>/v1/pod-credentials over HTTPS with the operator's CA, the
// agent's token as Bearer and the Pod's token in X-Pod-Token, under a deadline. It logs when the authority becomes
// unreachable and when it is back, once per change.
import { Agent, request } from "node:https";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";
import type { PeerCertificate } from "node:tls";
import { AgentCode, AgentRefusal, checkAuthorityAnswer } from "./answers.ts";
import type { AuthorityAnswer } from "./answers.ts";
import type { AgentLog } from "./logging.ts";
import type { WatchedFile } from "./watched-file.ts";

export const AUTHORITY_PATH = "v1/pod-credentials";
const MAX_BODY_BYTES = 64 * 1024;

export interface AuthorityClientOptions {
  url: URL;
  /** IP to connect to instead of the URL's host; the certificate is still checked against the URL's host. */
  address: string | undefined;
  caFile: WatchedFile;
  tokenFile: WatchedFile;
  timeoutMs: number;
  log: AgentLog;
}

export class AuthorityClient {
  readonly #options: AuthorityClientOptions;
  readonly #target: URL;
  readonly #hostname: string;
  #agent: Agent | undefined;
  #agentCaVersion = 0;
  #reachable = true;

  constructor(options: AuthorityClientOptions) {
    this.#options = options;
    const base = new URL(options.url);
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.#target = new URL(AUTHORITY_PATH, base);
    this.#hostname = base.hostname.replace(/^\[|\]$/g, "");
  }

  /** Asks the authority for the credentials of the Pod whose token this is; throws AgentRefusal when it cannot. */
  async fetchCredentials(podToken: string): Promise<AuthorityAnswer> {
    const ca = this.#options.caFile.read();
    if (!ca) {
      throw new AgentRefusal(
        503,
        AgentCode.ServiceUnavailable,
        `the authority's CA (${this.#options.caFile.path}) is not there yet: the operator writes it into a ConfigMap the agent mounts`,
      );
    }
    const token = this.#options.tokenFile.read();
    if (!token) {
      throw new AgentRefusal(
        503,
        AgentCode.ServiceUnavailable,
        `the agent's token (${this.#options.tokenFile.path}) is not there yet`,
      );
    }
    const agent = this.#agentFor(ca.text, ca.version);
    let status, body;
    try {
      ({ status, body } = await this.#get(agent, token.text, podToken));
    } catch (err) {
      if (this.#reachable) {
        this.#reachable = false;
        this.#options.log.warn("authority unreachable", {
          authority: this.#target.origin,
          error: (err as Error).message,
        });
      }
      throw new AgentRefusal(
        502,
        AgentCode.AuthorityUnavailable,
        `the credential authority at ${this.#target.origin} cannot be reached: ${(err as Error).message}`,
      );
    }
    if (!this.#reachable) {
      this.#reachable = true;
      this.#options.log.info("authority reachable again", { authority: this.#target.origin });
    }
    return checkAuthorityAnswer(status, body);
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  /** One keep-alive pool per CA: a new CA gets a new pool, the old one is closed once its requests are done. */
  #agentFor(ca: string, version: number): Agent {
    if (this.#agent && this.#agentCaVersion === version) return this.#agent;
    const old = this.#agent;
    if (old) setTimeout(() => old.destroy(), this.#options.timeoutMs + 1000).unref();
    const hostname = this.#hostname;
    // The identity check sits on the pool, not on each request: a per-request checkServerIdentity gets a
    // pool of its own in node:https, which would mean a new TLS connection for every request.
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: 32,
      timeout: 30_000,
      ca,
      servername: isIP(hostname) === 0 ? hostname : undefined,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(hostname, cert),
    });
    this.#agentCaVersion = version;
    return this.#agent;
  }

  #get(agent: Agent, agentToken: string, podToken: string): Promise<{ status: number; body: string }> {
    const hostname = this.#hostname;
    return new Promise((resolve, reject) => {
      const req = request({
        agent,
        host: this.#options.address ?? hostname,
        port: this.#target.port || 443,
        path: this.#target.pathname,
        method: "GET",
        headers: {
          host: this.#target.host,
          accept: "application/json",
          authorization: `Bearer ${agentToken}`,
          "x-pod-token": podToken,
        },
      });
      const deadline = setTimeout(
        () => req.destroy(new Error(`no answer within ${this.#options.timeoutMs} ms`)),
        this.#options.timeoutMs,
      );
      const fail = (err: Error) => {
        clearTimeout(deadline);
        reject(err);
      };
      req.on("error", fail);
      req.on("response", (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on("error", fail);
        res.on("end", () => {
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
        });
      });
      req.end();
    });
  }
}
