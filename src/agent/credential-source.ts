// Credentials for one Pod token: from the cache while fresh, else from the authority (one request per token at a
// time, shared by everyone asking meanwhile). When the authority cannot be reached, a cached answer that has not
// run out stands in: Pods keep working while both operator replicas are down.
import { createHash } from "node:crypto";
import { AgentRefusal, errorAnswer } from "./answers.ts";
import type { AgentAnswer, AuthorityAnswer } from "./answers.ts";
import type { CredentialCache } from "./cache.ts";
import type { AgentLog } from "./logging.ts";

export interface Authority {
  fetchCredentials(podToken: string): Promise<AuthorityAnswer>;
}

/** The cache key of a Pod token: its SHA-256, so the token itself is never kept. */
export function tokenKey(podToken: string): string {
  return createHash("sha256").update(podToken).digest("base64url");
}

export class CredentialSource {
  readonly #inFlight = new Map<string, Promise<AgentAnswer>>();

  readonly #authority: Authority;
  readonly #cache: CredentialCache;
  readonly #log: AgentLog;
  readonly #now: () => number;

  constructor(authority: Authority, cache: CredentialCache, log: AgentLog, now: () => number = Date.now) {
    this.#authority = authority;
    this.#cache = cache;
    this.#log = log;
    this.#now = now;
  }

  credentialsFor(podToken: string): Promise<AgentAnswer> {
    const key = tokenKey(podToken);
    const cached = this.#cache.fresh(key, this.#now());
    if (cached) return Promise.resolve({ status: 200, body: cached.body });
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#ask(key, podToken).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  async #ask(key: string, podToken: string): Promise<AgentAnswer> {
    let answer;
    try {
      answer = await this.#authority.fetchCredentials(podToken);
    } catch (err) {
      if (!(err instanceof AgentRefusal)) throw err;
      const stale = this.#cache.usable(key, this.#now());
      if (stale) {
        this.#log.debug("served cached credentials while the authority cannot answer", { reason: err.code });
        return { status: 200, body: stale.body };
      }
      return errorAnswer(err.status, err.code, err.message);
    }
    if (answer.kind === "refusal") {
      this.#cache.delete(key); // the authority said no (Pod deleted, association gone): stop serving it
      return { status: answer.status, body: answer.body };
    }
    const cached = this.#cache.put(key, answer.body, answer.expirationMs, this.#now());
    if (!cached) this.#log.debug("credentials expire within two minutes: served, not cached");
    return { status: 200, body: answer.body };
  }
}
