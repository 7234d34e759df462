// The small interfaces the credential reconcilers work through: informer caches, Secret and status writes, events, AWS and
// metrics. The adapters in src/kube and src/aws implement them; unit tests use in-memory fakes. Every call that
// leaves the process takes the reconcile's AbortSignal, so a reconcile's deadline bounds it.
import type { V1Secret } from "@kubernetes/client-node";
import type { Condition, SecretType } from "../api/schema.ts";
import type { PrimaryChange } from "../runtime/controller.ts";
import type { Logger } from "pino";
import type { SessionTagOptions } from "../domain/session.ts";
import type { CachedMeta } from "../kube/projection.ts";
import type { AwsAccess } from "../aws/aws.ts";
import type { EventSink } from "../kube/events.ts";

export type { AwsAccess, AssumeRoleRequest } from "../aws/aws.ts";
export type { EventSink, EventTarget, EventType } from "../kube/events.ts";

/** Read access to an informer cache. */
export interface Cache<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): readonly T[];
}

/** A Secret as the cache keeps it: metadata, type and the hash of its data — never the data itself. */
export interface CachedSecret {
  metadata: CachedMeta;
  type?: string;
  /** dataHash(data) of the object as the API server returned it. */
  dataHash: string;
}

/** The name of the Secret cache's index: owner UID → the Secrets that resource owns. */
export const OWNER_INDEX = "owner";

/** The Secret cache, with its owner index so a resource's Secrets are found without scanning a namespace. */
export interface SecretCache extends Cache<CachedSecret> {
  byIndex(index: typeof OWNER_INDEX, uid: string, namespace: string): CachedSecret[];
}

/** Secret writes, and a live read for names the label-filtered cache cannot see. */
export interface SecretWriter {
  get(namespace: string, name: string, signal?: AbortSignal): Promise<V1Secret | undefined>;
  create(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret>;
  /** Fails with 409 Conflict when `secret.metadata.resourceVersion` is no longer current. */
  replace(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret>;
  /** Deletes only the object with this uid (and resourceVersion, when given); absent is fine. */
  delete(
    namespace: string,
    name: string,
    uid: string,
    resourceVersion?: string,
    signal?: AbortSignal,
  ): Promise<void>;
}

/** Status writes: a merge patch of the status subresource. */
export interface StatusWriter {
  patchStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void>;
}

/** Hooks for metrics; all optional. */
export interface ReconcileObserver {
  /** A refresh (new credentials obtained and written to the Secret) succeeded or failed. */
  onRefresh?(secretType: SecretType, result: "success" | "failure"): void;
  /** The expirationTime of the credentials in the resource's Secret; undefined when there are none. */
  onExpirationTime?(namespace: string, name: string, expirationTime: Date | undefined): void;
}

/** A resource of any of the operator's kinds as the readiness metric reads it: identity and conditions. */
export interface ConditionedResource {
  metadata?: { namespace?: string; name?: string };
  status?: { conditions?: Condition[] };
}

/**
 * The per-resource readiness metric: given a kind, the observer of its controller's primary events (Controller.observe),
 * which reads the Ready condition the operator wrote as the cache sees it, and the resource's deletion.
 */
export type ReadinessObserver = (
  kind: string,
) => (resource: ConditionedResource, change: PrimaryChange) => void;

/** What every credential reconciler is built from, whichever kind it serves. */
export interface CredentialOptions {
  secrets: SecretCache;
  secretWriter: SecretWriter;
  events: EventSink;
  aws: AwsAccess;
  logger: Logger;
  refreshRatio: number;
  jitterFraction: number;
  /** How often a resource whose Secret name is taken looks again (the name is not in our label-filtered cache). */
  conflictRetryMs: number;
  /** Retry delay after an error that needs someone to fix something (AccessDenied, invalid request). */
  permanentErrorRetryMs: number;
  /** Session tags naming the resource (--session-tags, --cluster-name). */
  sessionTags?: SessionTagOptions;
  now?: () => Date;
}

/** Metrics hooks of the cluster kind, besides the refresh results. */
export interface ClusterObserver extends ReconcileObserver {
  onNamespaces?(
    name: string,
    counts: { selected: number; ready: number; conflicts: number; denied: number } | undefined,
  ): void;
}
