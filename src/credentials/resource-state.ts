// The credential reconcilers' in-memory state, one record per resource (kopf keeps one "memory" per object): created on first
// sight, reset when the spec changes, dropped when the resource is deleted. Nothing else in credentials/ keeps
// per-resource maps, so nothing can outlive its resource.
import type { CachedSecret } from "./ports.ts";

/** Our latest Secret write, kept until the cache has caught up with it (read-your-writes); no data, only its hash. */
export interface SecretWrite {
  secret: CachedSecret;
  /** resourceVersion of the object the write replaced (or deleted and recreated); undefined when it created one. */
  replacedVersion: string | undefined;
}

export interface ResourceState {
  uid: string | undefined;
  /** metadata.generation the spec-derived fields below belong to. */
  generation: number | undefined;

  // About the Secret object; survives spec changes (the object is the same).
  /** Our latest write, until the cache shows it. */
  secretWrite: SecretWrite | undefined;
  /** The Secret name may be taken outside our label-filtered cache: read it live until we own it again. */
  readSecretLive: boolean;
  /**
   * The data hash of a Secret write still waiting for its answer: the watch can echo the write before the answer
   * arrives, and that echo must not count as a change (it would rerun the resource at once, past any backoff).
   */
  writeInFlight: string | undefined;

  // About the spec; reset when it changes.
  /** The last status written and the resourceVersion it was written over (a stale cache must not repeat it). */
  lastStatus: { hash: string; over: string | undefined } | undefined;
  /** The reason and message of the last Warning, so a problem is reported once per change. */
  lastWarning: { reason: string; message: string } | undefined;
  /** The one-hour role-chaining clamp has been reported (one DurationClamped event per spec). */
  clampReported: boolean;
  /** The largest duration STS accepted after rejecting a longer one. */
  durationCapSeconds: number | undefined;
  /** Why AWS's last answer had an implausible expiry; until a good answer, the Secret is not reported Ready. */
  expirationAnomaly: string | undefined;
}

/** A record as on first sight. */
export function newResourceState(uid: string | undefined, generation: number | undefined): ResourceState {
  return {
    uid,
    generation,
    secretWrite: undefined,
    readSecretLive: false,
    writeInFlight: undefined,
    lastStatus: undefined,
    lastWarning: undefined,
    clampReported: false,
    durationCapSeconds: undefined,
    expirationAnomaly: undefined,
  };
}

export class ResourceStates {
  private readonly states = new Map<string, ResourceState>();

  /**
   * The record of the resource with this uid and generation: created on first sight, replaced when the uid differs
   * (deleted and recreated under the same name), its spec-derived fields reset when the generation differs.
   */
  of(key: string, uid: string, generation: number | undefined): ResourceState {
    let state = this.states.get(key);
    if (state === undefined || (state.uid !== undefined && state.uid !== uid)) {
      state = newResourceState(uid, generation);
      this.states.set(key, state);
      return state;
    }
    state.uid = uid;
    if (state.generation !== generation) {
      const { secretWrite, readSecretLive, writeInFlight } = state;
      Object.assign(state, newResourceState(uid, generation), { secretWrite, readSecretLive, writeInFlight });
    }
    return state;
  }

  /** The record if there is one; never creates one. */
  peek(key: string): ResourceState | undefined {
    return this.states.get(key);
  }

  /** The record for a hint that arrives before the resource was seen (a watch on its Secret). */
  hint(key: string): ResourceState {
    let state = this.states.get(key);
    if (state === undefined) {
      state = newResourceState(undefined, undefined);
      this.states.set(key, state);
    }
    return state;
  }

  drop(key: string): void {
    this.states.delete(key);
  }

  get size(): number {
    return this.states.size;
  }
}
