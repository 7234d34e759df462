// The one seam of the opt-in features (ServiceAccount wiring, rollout restart): what the operator tells a feature
// (an owner of either kind, an owned Secret or a Namespace changed) and how it starts and stops. A feature owns its
// caches and its queue; one that is off is not built (or is a small stand-in that builds neither).
import type { AWSAssumeRole } from "../api/schema.ts";
import type { ClusterAWSAssumeRole } from "../api/cluster-schema.ts";
import { CLUSTER_KIND } from "../api/cluster-schema.ts";
import { KIND } from "../api/schema.ts";
import type { CachedSecret } from "../credentials/ports.ts";
import type { PrimaryChange } from "../runtime/controller.ts";

/** A resource of either kind: the owner of the Secrets the features act on. */
export type Owner = AWSAssumeRole | ClusterAWSAssumeRole;

export interface Feature {
  /** For logs and metrics, e.g. "service-accounts". */
  readonly name: string;
  /** An owner was added, changed (`statusOnly`: nothing but its status) or deleted. */
  ownerChanged(owner: Owner, change: PrimaryChange): void;
  /** An owned Secret was added or changed, or left the cache (`left`). */
  secretChanged(secret: CachedSecret, left: boolean): void;
  /** A Namespace was added, changed or deleted (cluster owners may select other namespaces now). */
  namespaceChanged(): void;
  /** Fills the feature's own caches in the background: readiness never waits for them (their RBAC may lack). */
  startCaches(): void;
  /** Starts the feature's workers (the leader only). */
  startWorkers(): void;
  stopWorkers(): Promise<void>;
  stopCaches(): void;
  /** Objects in the feature's own caches (for metrics and memory checks). */
  cachedObjects(): number;
}

/** The kind, from the spec (list items need not carry `kind`; namespaceSelector is required on the cluster kind). */
export function kindOf(owner: Owner): typeof KIND | typeof CLUSTER_KIND {
  return "namespaceSelector" in owner.spec ? CLUSTER_KIND : KIND;
}

/** The caches of both owner kinds (the cluster one only with --cluster-assume-roles). */
export interface OwnerCaches {
  resources: {
    get(namespace: string, name: string): AWSAssumeRole | undefined;
    list(namespace?: string): readonly AWSAssumeRole[];
  };
  clusterResources:
    | {
        get(namespace: string, name: string): ClusterAWSAssumeRole | undefined;
        list(): readonly ClusterAWSAssumeRole[];
      }
    | undefined;
}

/** The owner a key (object-key.ts) stands for: a cluster resource when the key names no namespace. */
export function ownerByKey(caches: OwnerCaches, namespace: string, name: string): Owner | undefined {
  return namespace ? caches.resources.get(namespace, name) : caches.clusterResources?.get("", name);
}
