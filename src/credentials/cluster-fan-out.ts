// The copies of a ClusterAWSAssumeRole's Secret across namespaces: reading each one (cache, our own write, or live),
// writing a credential set to many at once, deleting those no longer selected, and finding the set the fresh
// copies hold so that a new or repaired copy needs no AWS call.
import type { Logger } from "pino";
import type { V1Namespace } from "@kubernetes/client-node";
import type { ClusterAWSAssumeRole, NamespaceFailure } from "../api/cluster-schema.ts";
import { selectNamespaces } from "../domain/fan-out.ts";
import { Reason } from "../domain/conditions.ts";
import type { Plan } from "../domain/plan.ts";
import { apiErrorMessage, isConflict } from "../runtime/api-errors.ts";
import { copyBody, credentialSetFromCopy, timesOf } from "./cluster-copies.ts";
import type { CredentialSet } from "./cluster-copies.ts";
import type { Cache, CachedSecret, SecretCache, SecretWriter } from "./ports.ts";
import { ResourceStates } from "./resource-state.ts";
import type { ResourceState } from "./resource-state.ts";
import { SecretView } from "./secret-view.ts";

/** The in-memory record of one cluster resource: its own state, one per copy, and the current credential set. */
export interface ClusterState {
  uid: string;
  own: ResourceState;
  /** Per namespace: read-your-writes and live reads of the copy there. */
  copies: ResourceStates;
  /** The credentials last obtained or read, so copies can be added and repaired without AWS. Never logged. */
  credentialSet: CredentialSet | undefined;
}

/** What one selected, permitted namespace's copy needs. */
export interface CopyPlan {
  namespace: string;
  state: ResourceState;
  secret: CachedSecret | undefined;
  plan: Plan;
}

/** The record of a cluster resource: created on first sight, replaced when the uid differs, reset per generation. */
export function clusterStateOf(
  states: Map<string, ClusterState>,
  resource: ClusterAWSAssumeRole,
): ClusterState {
  const { name, uid, generation } = resource.metadata as { name: string; uid: string; generation?: number };
  let state = states.get(name);
  if (state === undefined || state.uid !== uid) {
    state = {
      uid,
      own: new ResourceStates().of(name, uid, generation),
      copies: new ResourceStates(),
      credentialSet: undefined,
    };
    states.set(name, state);
  } else if (state.own.generation !== generation) {
    const { lastStatus } = state.own;
    state.own = new ResourceStates().of(name, uid, generation);
    state.own.lastStatus = lastStatus;
  }
  return state;
}

export interface FanOutOptions {
  secrets: SecretCache;
  secretWriter: SecretWriter;
  /** Copies written in parallel within one reconcile. */
  writeConcurrency: number;
}

export class FanOut {
  private readonly options: FanOutOptions;
  private readonly view: SecretView;

  constructor(options: FanOutOptions) {
    this.options = options;
    this.view = new SecretView(options.secrets, options.secretWriter);
  }

  current(
    state: ResourceState,
    namespace: string,
    secretName: string,
    signal?: AbortSignal,
  ): Promise<CachedSecret | undefined> {
    return this.view.current(state, namespace, secretName, signal);
  }

  /** Whether this copy is the object our latest write produced (the watch echoing it back). */
  isOwnWrite(state: ClusterState | undefined, secret: CachedSecret): boolean {
    return this.view.isOwnWrite(state?.copies.peek(secret.metadata?.namespace ?? ""), secret);
  }

  /** Writes the set to each target namespace, a few at a time; returns the namespaces that failed. */
  async writeCopies(input: {
    resource: ClusterAWSAssumeRole;
    credentialSet: CredentialSet;
    targets: CopyPlan[];
    log: Logger;
    signal: AbortSignal | undefined;
  }): Promise<NamespaceFailure[]> {
    const { resource, credentialSet, targets, log, signal } = input;
    const failures: NamespaceFailure[] = [];
    let next = 0;
    const worker = async () => {
      while (next < targets.length) {
        const c = targets[next++]!;
        const replace = c.plan.action === "refresh" && c.plan.replace;
        try {
          const body = copyBody(credentialSet, resource, c.namespace, c.secret);
          await this.view.write(c.state, body, c.secret, replace, signal);
        } catch (err) {
          if (isConflict(err)) {
            log.debug(
              { namespace: c.namespace, err: apiErrorMessage(err) },
              "copy write conflicted; looking again",
            );
            failures.push({
              namespace: c.namespace,
              reason: Reason.SecretConflict,
              message: `Secret ${resource.spec.secretName} changed or appeared while being written`,
            });
          } else {
            failures.push({
              namespace: c.namespace,
              reason: Reason.KubernetesError,
              message: `could not write Secret ${resource.spec.secretName}: ${apiErrorMessage(err)}`,
            });
          }
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.options.writeConcurrency, targets.length) }, worker),
    );
    return failures;
  }

  /** Deletes our copies in namespaces that are no longer selected (or permitted), and copies of an old secretName. */
  async deleteStrayCopies(input: {
    resource: ClusterAWSAssumeRole;
    state: ClusterState;
    keep: ReadonlySet<string>;
    log: Logger;
    signal: AbortSignal | undefined;
  }): Promise<void> {
    const { resource, state, keep, log, signal } = input;
    const { uid } = resource.metadata;
    for (const secret of this.options.secrets.list()) {
      const meta = secret.metadata!;
      if (!meta.ownerReferences?.some((r) => r.controller && r.uid === uid)) continue;
      if (keep.has(meta.namespace!) && meta.name === resource.spec.secretName) continue;
      const copy = state.copies.peek(meta.namespace!);
      if (copy) this.view.forgetWrite(copy);
      await this.options.secretWriter.delete(
        meta.namespace!,
        meta.name!,
        meta.uid!,
        meta.resourceVersion,
        signal,
      );
      if (!keep.has(meta.namespace!)) state.copies.drop(meta.namespace!);
      log.info({ namespace: meta.namespace, secretName: meta.name }, "deleted copy no longer selected");
    }
  }

  /** The set the freshest kept copy holds: from memory, or read live once (after a restart). */
  async currentSet(
    state: ClusterState,
    keeps: CopyPlan[],
    signal: AbortSignal | undefined,
  ): Promise<CredentialSet | undefined> {
    const remembered = this.setOfKeeps(state, keeps);
    if (remembered && state.credentialSet === remembered) return remembered;
    const freshest = [...keeps].sort((a, b) => keepTime(b) - keepTime(a))[0]!;
    const live = await this.options.secretWriter.get(
      freshest.namespace,
      freshest.secret!.metadata!.name!,
      signal,
    );
    const credentialSet = live ? credentialSetFromCopy(live) : undefined;
    if (credentialSet) state.credentialSet = credentialSet;
    return credentialSet;
  }

  /** The remembered set, when the kept copies hold it (same refresh time); else a times-only view of theirs. */
  setOfKeeps(state: ClusterState, keeps: CopyPlan[]): CredentialSet | undefined {
    const freshest = [...keeps].sort((a, b) => keepTime(b) - keepTime(a))[0];
    if (!freshest || freshest.plan.action !== "keep") return undefined;
    const { lastRefreshTime, expirationTime } = freshest.plan;
    if (state.credentialSet && state.credentialSet.lastRefreshTime.getTime() === lastRefreshTime.getTime())
      return state.credentialSet;
    // Times only (no data): enough for status and scheduling; currentSet reads the data when a copy needs it.
    const annotations = freshest.secret?.metadata?.annotations ?? {};
    return {
      type: freshest.secret?.type ?? "",
      data: {},
      ...timesOf(annotations, lastRefreshTime, expirationTime),
    };
  }
}

function keepTime(c: CopyPlan): number {
  return c.plan.action === "keep" ? c.plan.lastRefreshTime.getTime() : 0;
}

/** Namespaces the resource's selector matches, among the watched ones (undefined: all), not being deleted; sorted. */
export function selectedNamespaces(
  namespaces: Cache<V1Namespace>,
  watched: ReadonlySet<string> | undefined,
  resource: ClusterAWSAssumeRole,
): string[] {
  const views = namespaces.list().map((n) => ({
    name: n.metadata?.name ?? "",
    labels: n.metadata?.labels,
    deleting: !n.metadata?.name || !!n.metadata.deletionTimestamp,
  }));
  return selectNamespaces(views, watched, resource.spec.namespaceSelector ?? {});
}
