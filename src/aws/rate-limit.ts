// Client-side token buckets, one per AWS API, so a burst of reconciles (a relist of 10k resources) cannot
// exceed the account's STS/ECR quotas and turn into a storm of throttling retries.
//
// Written here rather than reused: the only client-side limiter in the installed AWS SDK is @smithy/core's
// DefaultRateLimiter, which belongs to the "adaptive" retry mode: it stays disabled until AWS throttles, its
// rate follows a CUBIC curve instead of a configured rate/burst, it reads Date.now directly (not testable with
// an injected clock) and concurrent waiters are neither FIFO nor served by one timer.

export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

export interface TokenBucketOptions extends RateLimit {
  /** Clock in ms; defaults to Date.now (read at each call, so node:test mock.timers with "Date" works). */
  now?: () => number;
}

// Refill arithmetic in floating point can land a hair below a whole token.
const EPSILON = 1e-9;

interface Waiter {
  readyAt: number;
  resolve: () => void;
}

/**
 * A token bucket: starts full with `burst` tokens and refills at `ratePerSecond`.
 *
 * A waiter reserves its token when it calls take() (the balance may go negative, as in golang.org/x/time/rate),
 * which fixes the time it is due. The timer only wakes waiters, so a timer that fires late or is rounded up
 * to whole milliseconds delays them but never loses tokens or lowers the long-run rate.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;
  private waiters: Waiter[] = [];
  private waitersHead = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${options.ratePerSecond}`);
    }
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) {
      throw new RangeError(`burst must be at least 1, got ${options.burst}`);
    }
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.now = options.now ?? (() => Date.now());
    this.tokens = options.burst;
    this.last = this.now();
  }

  /** Take a token if one is available now and nobody is waiting ahead; never waits. */
  tryTake(): boolean {
    this.refill();
    if (this.waiting() > 0 || this.tokens + EPSILON < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Resolve when a token is taken; callers are served in the order they called. */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    this.tokens -= 1;
    const readyAt = this.last + (-this.tokens * 1000) / this.ratePerSecond;
    return new Promise((resolve) => {
      this.waiters.push({ readyAt, resolve });
      if (this.timer === undefined) this.arm();
    });
  }

  /** Callers waiting for a token. */
  waiting(): number {
    return this.waiters.length - this.waitersHead;
  }

  private refill(): void {
    const now = this.now();
    const elapsed = now - this.last;
    this.last = now;
    if (elapsed > 0) this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
  }

  // One timer, for the head waiter.
  private arm(): void {
    const head = this.waiters[this.waitersHead] as Waiter;
    const ms = Math.max(1, Math.ceil(head.readyAt - this.now()));
    // Kept ref'd: a caller awaiting take() is real pending work the process must not exit under.
    this.timer = setTimeout(() => this.serve(), ms);
  }

  private serve(): void {
    this.timer = undefined;
    const now = this.now();
    while (this.waiting() > 0) {
      const head = this.waiters[this.waitersHead] as Waiter;
      if (head.readyAt > now + EPSILON) break;
      this.waitersHead++;
      head.resolve();
    }
    if (this.waiting() === 0) {
      this.waiters = [];
      this.waitersHead = 0;
      return;
    }
    if (this.waitersHead > 1024 && this.waitersHead * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.waitersHead);
      this.waitersHead = 0;
    }
    this.arm();
  }
}

export type AwsApi = "sts:AssumeRole" | "sts:GetCallerIdentity" | "ecr:GetAuthorizationToken";

export type RateLimitConfig = Partial<Record<AwsApi, Partial<RateLimit>>>;

export const AWS_APIS: readonly AwsApi[] = [
  "sts:AssumeRole",
  "sts:GetCallerIdentity",
  "ecr:GetAuthorizationToken",
];

export const DEFAULT_RATE_LIMITS: Readonly<Record<AwsApi, Readonly<RateLimit>>> = {
  "sts:AssumeRole": { ratePerSecond: 20, burst: 40 },
  "sts:GetCallerIdentity": { ratePerSecond: 5, burst: 5 },
  "ecr:GetAuthorizationToken": { ratePerSecond: 10, burst: 20 },
};

/** One token bucket per AWS API; fields missing from `config` take the defaults. */
export class RateLimiters {
  private readonly buckets: Map<AwsApi, TokenBucket>;

  constructor(config: RateLimitConfig = {}, options: { now?: () => number } = {}) {
    this.buckets = new Map(
      AWS_APIS.map((api) => [
        api,
        new TokenBucket({ ...DEFAULT_RATE_LIMITS[api], ...definedFields(config[api]), now: options.now }),
      ]),
    );
  }

  limiter(api: AwsApi): TokenBucket {
    const bucket = this.buckets.get(api);
    if (bucket === undefined) throw new Error(`no rate limiter for AWS API ${String(api)}`);
    return bucket;
  }
}

function definedFields(limit: Partial<RateLimit> | undefined): Partial<RateLimit> {
  const out: Partial<RateLimit> = {};
  if (limit?.ratePerSecond !== undefined) out.ratePerSecond = limit.ratePerSecond;
  if (limit?.burst !== undefined) out.burst = limit.burst;
  return out;
}
