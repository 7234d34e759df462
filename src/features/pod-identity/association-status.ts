// The AWSPodIdentityAssociation's status (the leader only): whether it is served (spec, namespace permission, no older
// association for the same ServiceAccount), and how its ServiceAccount's Pods stand. A Pod that runs as the
// ServiceAccount without the endpoint's variables (the webhook was down when it was created, or the association is
// newer) gets one Warning event saying how to fix it, and is counted and named in status.
import type { Logger } from "pino";
import { MAX_LISTED_PODS } from "../../api/pod-identity-schema.ts";
import type {
  AWSPodIdentityAssociation,
  AWSPodIdentityAssociationStatus,
} from "../../api/pod-identity-schema.ts";
import type { AssociationCredentials } from "../../credentials/association-credentials.ts";
import type { Cache, EventSink } from "../../credentials/ports.ts";
import { READY, Reason, readyCondition, setCondition } from "../../domain/conditions.ts";
import type { Reason as ReasonType } from "../../domain/conditions.ts";
import { RefusedError, servingOrder } from "../../domain/pod-identity.ts";
import { contentHash } from "../../runtime/content-hash.ts";
import { parseKey } from "../../runtime/object-key.ts";
import type { Reconciler } from "../../runtime/reconciler.ts";
import { done, temporaryError } from "../../runtime/result.ts";
import type { ReconcileResult } from "../../runtime/result.ts";

/** What the Pod cache keeps of a Pod: its identity, ServiceAccount and how the injection left it. */
export interface CachedPod {
  metadata: { name: string; namespace: string; uid: string; resourceVersion?: string };
  serviceAccount: string;
  /** Some container gets the endpoint's variables. */
  injected: boolean;
  /** No container got them although some container could have (none sets credentials of its own everywhere). */
  missed: boolean;
}

export interface AssociationStatusOptions {
  associations: Cache<AWSPodIdentityAssociation>;
  /** The associations naming a ServiceAccount. */
  associationsOf(namespace: string, serviceAccount: string): AWSPodIdentityAssociation[];
  /** The Pods running as a ServiceAccount. */
  podsOf(namespace: string, serviceAccount: string): CachedPod[];
  credentials: AssociationCredentials;
  patchStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void>;
  events: EventSink;
  logger: Logger;
  now?: () => Date;
}

/** One record per association: the Pods already warned about, and the last status written. */
interface AssociationRecord {
  uid: string;
  warned: Set<string>;
  statusHash: string | undefined;
}

export class AssociationStatusReconciler implements Reconciler {
  private readonly options: AssociationStatusOptions;
  private readonly now: () => Date;
  private readonly records = new Map<string, AssociationRecord>();

  constructor(options: AssociationStatusOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { namespace, name } = parseKey(key);
    const association = this.options.associations.get(namespace, name);
    if (!association) {
      this.records.delete(key);
      return done();
    }
    const uid = association.metadata.uid ?? "";
    let record = this.records.get(key);
    if (!record || record.uid !== uid) {
      record = { uid, warned: new Set(), statusHash: undefined };
      this.records.set(key, record);
    }
    const { serviceAccount } = association.spec;

    let ready: { status: "True" | "False"; reason: ReasonType; message: string };
    let roleArn: string | undefined;
    const served = servingOrder(this.options.associationsOf(namespace, serviceAccount))[0];
    if (served && served.metadata.uid !== uid) {
      ready = {
        status: "False",
        reason: Reason.DuplicateAssociation,
        message:
          `ServiceAccount ${serviceAccount} is already associated by ${served.metadata.name}, which is older; ` +
          "this association is not served. Delete one of them.",
      };
    } else {
      let checked;
      try {
        checked = await this.options.credentials.check(association);
      } catch (err) {
        if (err instanceof RefusedError) return temporaryError(err);
        throw err;
      }
      if ("refusal" in checked) {
        ready = { status: "False", reason: Reason[checked.reason], message: checked.refusal.message };
      } else {
        roleArn = checked.roleArn;
        ready = {
          status: "True",
          reason: Reason.Associated,
          message:
            `Pods running as ServiceAccount ${serviceAccount} get credentials for ${roleArn} from the ` +
            "credential endpoint on their node.",
        };
      }
    }

    const pods = this.options.podsOf(namespace, serviceAccount);
    const missed = ready.status === "True" ? pods.filter((p) => p.missed) : [];
    const missedUids = new Set(missed.map((p) => p.metadata.uid));
    for (const uidSeen of record.warned) if (!missedUids.has(uidSeen)) record.warned.delete(uidSeen);
    for (const pod of missed) {
      if (record.warned.has(pod.metadata.uid)) continue;
      record.warned.add(pod.metadata.uid);
      this.options.events.emit(
        { apiVersion: "v1", kind: "Pod", namespace, name: pod.metadata.name, uid: pod.metadata.uid },
        "Warning",
        Reason.PodIdentityNotInjected,
        `Pod runs as ServiceAccount ${serviceAccount}, which AWSPodIdentityAssociation ${name} serves, but was ` +
          "created without the credential endpoint's variables (the operator's webhook was unavailable, or the " +
          "association is newer than the Pod). It has no AWS credentials from the endpoint: restart it " +
          "(delete the Pod, or kubectl rollout restart its workload).",
      );
      this.options.logger.info(
        { namespace, name, pod: pod.metadata.name },
        "pod identity: a Pod missed the injection",
      );
    }
    if (missed.length > 0 && ready.status === "True") {
      ready.message += ` ${missed.length} of its Pods were created without the injection; restart them.`;
    }

    const status: AWSPodIdentityAssociationStatus = {
      observedGeneration: association.metadata.generation ?? 0,
      ...(roleArn ? { roleArn } : {}),
      pods: {
        injected: pods.filter((p) => p.injected).length,
        missed: missed.length,
        ...(missed.length > 0
          ? { missedNames: missed.slice(0, MAX_LISTED_PODS).map((p) => p.metadata.name) }
          : {}),
      },
    };
    const condition = readyCondition(
      ready.status,
      ready.reason,
      ready.message,
      association.metadata.generation,
    );
    const hash = contentHash([status, condition]);
    const current = association.status;
    const currentReady = current?.conditions?.find((c) => c.type === READY);
    const same =
      record.statusHash === hash ||
      (currentReady?.status === condition.status &&
        currentReady.reason === condition.reason &&
        currentReady.message === condition.message &&
        contentHash([current?.observedGeneration, current?.roleArn, current?.pods]) ===
          contentHash([status.observedGeneration, status.roleArn, status.pods]));
    if (!same) {
      const conditions = setCondition(current?.conditions, condition, this.now());
      await this.options.patchStatus(
        namespace,
        name,
        // null removes what a merge patch would otherwise keep.
        {
          ...status,
          roleArn: roleArn ?? null,
          conditions,
          pods: { ...status.pods, missedNames: status.pods!.missedNames ?? null },
        },
        signal,
      );
    }
    record.statusHash = hash;
    return done();
  }

  /** Drops a deleted association's record. */
  forget(key: string): void {
    this.records.delete(key);
  }
}
