// What the ServiceAccount wiring writes to the resources themselves (either kind): status.serviceAccounts when it
// changed, its finalizer, and events; plus the small predicates on a resource's spec that decide whether the
// wiring has anything to do with it.
import { API_VERSION } from "../../api/schema.ts";
import type { ServiceAccountsStatus } from "../../api/schema.ts";
import { SERVICE_ACCOUNTS_FINALIZER } from "../../domain/pull-secrets.ts";
import type { EventSink } from "../../credentials/ports.ts";
import { canonicalJson } from "../../runtime/content-hash.ts";
import type { ServiceAccountClient } from "../../kube/service-accounts.ts";
import { kindOf } from "../feature.ts";
import type { Owner } from "../feature.ts";

/** The adapter calls the wiring makes (src/kube's ServiceAccountClient implements them; a fake in tests). */
export type ServiceAccountWriter = Pick<
  ServiceAccountClient,
  "get" | "listWired" | "patchPullSecrets" | "patchFinalizers" | "patchStatus"
>;

export class OwnerWrites {
  private readonly writer: ServiceAccountWriter;
  private readonly events: EventSink;

  constructor(writer: ServiceAccountWriter, events: EventSink) {
    this.writer = writer;
    this.events = events;
  }

  async writeStatus(
    owner: Owner,
    status: ServiceAccountsStatus | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const current = owner.status?.serviceAccounts;
    if (canonicalJson(current ?? null) === canonicalJson(status ?? null)) return;
    await this.writer.patchStatus(
      owner.metadata.namespace ?? "",
      owner.metadata.name!,
      status ?? null,
      signal,
    );
  }

  /** Writes the owner's finalizers, with its resourceVersion as precondition. */
  async setFinalizers(owner: Owner, finalizers: string[], signal?: AbortSignal): Promise<void> {
    const { namespace, name, resourceVersion } = owner.metadata;
    await this.writer.patchFinalizers(namespace ?? "", name!, resourceVersion, finalizers, signal);
  }

  dropFinalizer(owner: Owner, signal?: AbortSignal): Promise<void> {
    const rest = (owner.metadata.finalizers ?? []).filter((f) => f !== SERVICE_ACCOUNTS_FINALIZER);
    return this.setFinalizers(owner, rest, signal);
  }

  event(owner: Owner, type: "Normal" | "Warning", reason: string, message: string): void {
    const { namespace, name, uid } = owner.metadata;
    this.events.emit(
      { apiVersion: API_VERSION, kind: kindOf(owner), namespace: namespace ?? "", name: name!, uid: uid! },
      type,
      reason,
      message,
    );
  }
}

/** Whether the resource asks for wiring: serviceAccounts listed, on a pull secret (the CRD enforces the pair). */
export function wantsWiring(r: Owner): boolean {
  return (r.spec.serviceAccounts?.length ?? 0) > 0 && r.spec.secretType === "EcrDockerConfigJson";
}

/** Whether the wiring has anything to do for the resource: names listed, our finalizer, or our status to clear. */
export function concerns(r: Owner): boolean {
  return (
    (r.spec.serviceAccounts?.length ?? 0) > 0 ||
    (r.metadata.finalizers?.includes(SERVICE_ACCOUNTS_FINALIZER) ?? false) ||
    r.status?.serviceAccounts !== undefined
  );
}
