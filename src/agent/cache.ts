// The agent's cache of credential answers, keyed by the SHA-256 of the Pod token (never the token): how long an
// answer is served without asking the authority, how long it may stand in while the authority cannot be reached,
// and a bound on the number of entries.

/** An answer that expires sooner than this is served but never cached. */
export const MIN_CACHEABLE_LIFETIME_MS = 120_000;
/** No cached answer is served closer than this to its Expiration (clock skew between node and AWS). */
export const EXPIRY_MARGIN_MS = 60_000;

/**
 * Until when a 200 answer is served from the cache without asking the authority: the earlier of half its remaining
 * lifetime and one minute before it expires; undefined when it has less than two minutes to live.
 */
export function freshUntil(expirationMs: number, nowMs: number): number | undefined {
  const remaining = expirationMs - nowMs;
  if (!(remaining >= MIN_CACHEABLE_LIFETIME_MS)) return undefined;
  return Math.min(nowMs + remaining / 2, expirationMs - EXPIRY_MARGIN_MS);
}

/** Until when a cached answer may stand in for the authority while it cannot be reached. */
export function usableUntil(expirationMs: number): number {
  return expirationMs - EXPIRY_MARGIN_MS;
}

export interface CacheEntry {
  /** The authority's JSON body, as it sent it. */
  body: string;
  freshUntil: number;
  usableUntil: number;
}

/** A Map bounded to maxEntries; the entry stored longest ago goes first when it is full. */
export class CredentialCache {
  readonly #entries = new Map<string, CacheEntry>();

  readonly maxEntries: number;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entry when it may be served without asking the authority. */
  fresh(key: string, nowMs: number): CacheEntry | undefined {
    const entry = this.usable(key, nowMs);
    return entry && nowMs < entry.freshUntil ? entry : undefined;
  }

  /** The entry when it may stand in while the authority cannot be reached; an entry past that is dropped. */
  usable(key: string, nowMs: number): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry && nowMs >= entry.usableUntil) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Stores a 200 answer when the rule allows; returns whether it did. */
  put(key: string, body: string, expirationMs: number, nowMs: number): boolean {
    const until = freshUntil(expirationMs, nowMs);
    this.#entries.delete(key);
    if (until === undefined) return false;
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { body, freshUntil: until, usableUntil: usableUntil(expirationMs) });
    return true;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry past its usable time; returns how many. */
  prune(nowMs: number): number {
    let dropped = 0;
    for (const [key, entry] of this.#entries) {
      if (nowMs >= entry.usableUntil) {
        this.#entries.delete(key);
        dropped++;
      }
    }
    return dropped;
  }
}
