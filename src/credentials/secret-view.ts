// The credential reconcilers' view of Secrets: the one a resource names (from the cache, from our own latest write while the cache
// lags, or read live when the name may be taken outside the label-filtered cache), writes that keep that view
// current, and the other Secrets a resource owns (through the cache's owner index). Every Secret the view holds is
// a CachedSecret — metadata plus the hash of its data — so no credentials stay in memory after a write; drift is
// detected by comparing that hash with the data-hash annotation.
import type { V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { AWSAssumeRole } from "../api/schema.ts";
import { KIND } from "../api/schema.ts";
import { SecretAnnotation } from "../domain/plan.ts";
import type { ObservedSecret } from "../domain/plan.ts";
import { isConflict } from "../runtime/api-errors.ts";
import { leanMetadata } from "../kube/projection.ts";
import { dataHash } from "../runtime/content-hash.ts";
import { OWNER_INDEX } from "./ports.ts";
import type { CachedSecret, SecretCache, SecretWriter } from "./ports.ts";
import type { ResourceState } from "./resource-state.ts";

/** The projection the Secret cache keeps (its informer's transform); a CachedSecret passes unchanged. */
export function cachedSecret(secret: V1Secret | CachedSecret): CachedSecret {
  if ("dataHash" in secret && !("data" in secret)) return secret;
  const s = secret as V1Secret;
  return {
    metadata: leanMetadata(s.metadata),
    ...(s.type !== undefined ? { type: s.type } : {}),
    dataHash: dataHash(s.data),
  };
}

/** The owner index function: the UIDs of the resources a Secret belongs to (controller owner, owner-uid annotation). */
export function ownerUids(secret: CachedSecret): string[] {
  const meta = secret.metadata;
  const uids = (meta.ownerReferences ?? []).filter((r) => r.controller && r.kind === KIND).map((r) => r.uid);
  const annotated = meta.annotations?.[SecretAnnotation.ownerUid];
  return annotated ? [...uids, annotated] : uids;
}

/** What the plan reads of a cached Secret. */
export function observedSecret(secret: CachedSecret): ObservedSecret {
  const meta = secret.metadata;
  return {
    type: secret.type,
    labels: meta.labels,
    annotations: meta.annotations,
    ownerReferences: meta.ownerReferences,
    dataHash: secret.dataHash,
  };
}

export class SecretView {
  private readonly cache: SecretCache;
  private readonly writer: SecretWriter;

  constructor(cache: SecretCache, writer: SecretWriter) {
    this.cache = cache;
    this.writer = writer;
  }

  /** The Secret named `secretName`: from the cache, our own latest write if the cache lags, or a live read. */
  async current(
    state: ResourceState,
    namespace: string,
    secretName: string,
    signal?: AbortSignal,
  ): Promise<CachedSecret | undefined> {
    const cached = this.cache.get(namespace, secretName);
    const written = state.secretWrite;
    if (written && written.secret.metadata?.name === secretName) {
      const cachedVersion = cached?.metadata?.resourceVersion;
      const stale = cached === undefined || cachedVersion === written.replacedVersion;
      if (stale && cachedVersion !== written.secret.metadata?.resourceVersion) return written.secret;
      state.secretWrite = undefined;
    }
    if (cached) return cached;
    // Not in our label-filtered cache: usually absent. When it may exist (a create found the name taken, or our
    // Secret left the cache — deleted, or its label removed) the name is read live until we own it again.
    if (!state.readSecretLive) return undefined;
    const live = await this.writer.get(namespace, secretName, signal);
    return live && cachedSecret(live);
  }

  /**
   * Writes `body` over `existing`: creates it, replaces it (optimistic concurrency on existing's resourceVersion),
   * or deletes and recreates it when the Secret's type must change (a Secret's type is immutable).
   * A 409 (someone else wrote or created it meanwhile) is thrown; the name is then read live.
   */
  async write(
    state: ResourceState,
    body: V1Secret,
    existing: CachedSecret | undefined,
    replaceType: boolean,
    signal?: AbortSignal,
  ): Promise<CachedSecret> {
    const { namespace, name } = body.metadata!;
    let written: V1Secret;
    state.writeInFlight = body.metadata?.annotations?.[SecretAnnotation.dataHash];
    try {
      if (!existing) {
        written = await this.writer.create(body, signal);
      } else if (replaceType) {
        await this.writer.delete(namespace!, name!, existing.metadata!.uid!, undefined, signal);
        written = await this.writer.create(body, signal);
      } else {
        body.metadata!.resourceVersion = existing.metadata!.resourceVersion;
        written = await this.writer.replace(body, signal);
      }
    } catch (err) {
      // AlreadyExists or a stale resourceVersion: the name is taken outside our cache, or changed meanwhile.
      if (isConflict(err)) state.readSecretLive = true;
      throw err;
    } finally {
      state.writeInFlight = undefined;
    }
    state.readSecretLive = false;
    const kept = cachedSecret(written);
    // Remembered only while the cache lags; the watch may have delivered it before this answer (see isOwnWrite).
    const echoed =
      this.cache.get(namespace!, name!)?.metadata.resourceVersion === kept.metadata.resourceVersion;
    state.secretWrite = echoed
      ? undefined
      : { secret: kept, replacedVersion: existing?.metadata?.resourceVersion };
    return kept;
  }

  /** Whether this Secret is the object our latest write produced (the watch echoing it back; the cache has it). */
  isOwnWrite(state: ResourceState | undefined, secret: CachedSecret): boolean {
    if (state === undefined) return false;
    const inFlight = state.writeInFlight;
    if (
      inFlight !== undefined &&
      secret.dataHash === inFlight &&
      secret.metadata.annotations?.[SecretAnnotation.dataHash] === inFlight
    ) {
      return true; // the echo of a write whose answer has not arrived yet
    }
    const version = state.secretWrite?.secret.metadata?.resourceVersion;
    if (version === undefined || version !== secret.metadata?.resourceVersion) return false;
    state.secretWrite = undefined;
    return true;
  }

  /** Forgets our latest write (the Secret is being deleted: it must not stand in for it later). */
  forgetWrite(state: ResourceState): void {
    state.secretWrite = undefined;
  }

  /** Deletes the Secrets this resource owns, except the one named `keep` (after a secretName change: the old). */
  async deleteOwned(
    resource: AWSAssumeRole,
    log: Logger,
    keep: string | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const { namespace, uid } = resource.metadata;
    for (const secret of this.cache.byIndex(OWNER_INDEX, uid!, namespace!)) {
      const meta = secret.metadata;
      if (meta.name === keep) continue;
      if (!meta.ownerReferences?.some((r) => r.controller && r.uid === uid)) continue;
      await this.writer.delete(namespace!, meta.name!, meta.uid!, meta.resourceVersion, signal);
      log.info(
        { secretName: meta.name },
        keep ? "deleted Secret no longer named by the spec" : "deleted Secret",
      );
    }
  }
}
