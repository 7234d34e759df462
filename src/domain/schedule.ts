// When to refresh credentials and how long to wait before retrying. Time and randomness come in as
// arguments, so the same inputs always give the same schedule.
import { mixedHash32 } from "./hash.ts";

export const DEFAULT_REFRESH_RATIO = 2 / 3;
export const DEFAULT_JITTER_FRACTION = 0.05;
const MAX_SAFETY_MARGIN_MS = 60_000;
const SAFETY_MARGIN_FRACTION = 0.1;

export interface RefreshTimeInput {
  lastRefreshTime: Date;
  expirationTime: Date;
  /** Fraction of the lifetime after which to refresh; defaults to 2/3. */
  ratio?: number;
  /** Jitter as a fraction of the lifetime, applied ±; defaults to 0.05. */
  jitterFraction?: number;
  /** A number in [0, 1): 0.5 means no jitter. */
  random: number;
}

function checkFraction(name: string, value: number, max: number): void {
  if (!Number.isFinite(value) || value < 0 || value > max)
    throw new RangeError(`${name} must be in [0, ${max}]`);
}

/**
 * lastRefreshTime + lifetime·ratio + lifetime·jitterFraction·(2·random − 1), clamped to
 * [lastRefreshTime, expirationTime − min(60 s, 10% of the lifetime)] so a refresh always lands before expiry.
 * An already expired or zero lifetime gives lastRefreshTime: refresh now.
 */
export function refreshTime(input: RefreshTimeInput): Date {
  const ratio = input.ratio ?? DEFAULT_REFRESH_RATIO;
  const jitterFraction = input.jitterFraction ?? DEFAULT_JITTER_FRACTION;
  checkFraction("ratio", ratio, 1);
  checkFraction("jitterFraction", jitterFraction, 1);
  checkFraction("random", input.random, 1);
  const start = input.lastRefreshTime.getTime();
  const lifetime = input.expirationTime.getTime() - start;
  if (!(lifetime > 0)) return new Date(start);
  const target = start + lifetime * ratio + lifetime * jitterFraction * (2 * input.random - 1);
  const latest =
    input.expirationTime.getTime() - Math.min(MAX_SAFETY_MARGIN_MS, lifetime * SAFETY_MARGIN_FRACTION);
  return new Date(Math.round(Math.max(start, Math.min(latest, target))));
}

/** botocore refreshes credentials this long before they expire (and fetches on every call once 10 minutes are left). */
export const SDK_REFRESH_LEAD_MS = 15 * 60_000;
/** Served credentials are renewed at least this long before expiry when the session is long enough for it. */
export const SERVING_LEAD_MS = SDK_REFRESH_LEAD_MS + 60_000;

/**
 * When an endpoint that serves credentials to the SDKs renews them: at refreshTime, but no later than 16 minutes
 * before expiry where the lifetime leaves room (more than twice that), so what it serves always has more than the
 * 15 minutes after which botocore starts fetching again. Shorter sessions keep refreshTime (docs/pod-identity.md).
 */
export function servingRefreshTime(input: RefreshTimeInput): Date {
  const planned = refreshTime(input);
  const lifetime = input.expirationTime.getTime() - input.lastRefreshTime.getTime();
  if (!(lifetime > 2 * SERVING_LEAD_MS)) return planned;
  return new Date(Math.min(planned.getTime(), input.expirationTime.getTime() - SERVING_LEAD_MS));
}

/** The moment the Secret stops being usable: the earlier of the credentials' and the ECR token's expiry. */
export function secretExpirationTime(credentials: Date, ecrToken?: Date): Date {
  const earliest =
    ecrToken === undefined ? credentials.getTime() : Math.min(credentials.getTime(), ecrToken.getTime());
  return new Date(earliest);
}

/** Credentials that expire sooner than this after a refresh are an anomaly: at most 60 s, at least 1 % of the request. */
export const MIN_LIFETIME_FLOOR_MS = 60_000;
export const MIN_LIFETIME_FRACTION = 0.01;

/**
 * Checks an expiry AWS returned before it steers anything: undefined when it is plausible, else what is wrong with
 * it. An expiry already past, not a time at all, or sooner than min(60 s, 1 % of the requested duration) would make
 * the operator refresh at once, again and again.
 */
export function expirationProblem(
  expirationTime: Date,
  now: Date,
  requestedSeconds: number,
): "invalid" | "past" | "too-soon" | undefined {
  const at = expirationTime.getTime();
  if (Number.isNaN(at)) return "invalid";
  if (at <= now.getTime()) return "past";
  const floor = Math.min(MIN_LIFETIME_FLOOR_MS, requestedSeconds * 1000 * MIN_LIFETIME_FRACTION);
  if (at - now.getTime() < floor) return "too-soon";
  return undefined;
}

/**
 * A deterministic number in [0, 1) from a seed. Seeded with the resource uid and last refresh time, a restarted
 * operator computes the same schedule, while resources created together still spread out.
 */
export function stableRandom(seed: string): number {
  return mixedHash32(seed) / 2 ** 32;
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** A number in [0, 1). */
  random: number;
}

/**
 * "Full jitter" exponential backoff (AWS Architecture Blog, Exponential Backoff And Jitter):
 * random · min(maxMs, baseMs · 2^attempt), in whole milliseconds. attempt counts from 0.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  checkFraction("random", opts.random, 1);
  if (Number.isNaN(attempt)) throw new RangeError("attempt must be a number");
  // 2^attempt overflows to Infinity for huge attempts, which min() turns into maxMs.
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, Math.floor(attempt)));
  return Math.floor(opts.random * ceiling);
}
