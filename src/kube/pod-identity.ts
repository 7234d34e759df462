// The Kubernetes calls of Pod Identity: TokenReviews (the Pods' and the agents' tokens), live Pod reads (the bound Pod
// must exist, be the one the token names, and run on the asking agent's node), the associations' list path and status
// writes, and the lean Pod projection its cache keeps. Decisions live in the domain (pod-identity.ts) and in
// features/pod-identity.
import type { V1Pod } from "@kubernetes/client-node";
import { POD_IDENTITY_PLURAL } from "../api/pod-identity-schema.ts";
import { GROUP, VERSION } from "../api/schema.ts";
import type { ReviewedToken } from "../domain/pod-identity.ts";
import { isNotFound } from "../runtime/api-errors.ts";
import type { KubeClient } from "./client.ts";
import { mergePatchStatus } from "./status-patch.ts";

/** The path to list and watch AWSPodIdentityAssociations, in all namespaces or one. */
export function associationsPath(namespace?: string): string {
  return namespace
    ? `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${POD_IDENTITY_PLURAL}`
    : `/apis/${GROUP}/${VERSION}/${POD_IDENTITY_PLURAL}`;
}

/** The path to list and watch Pods, in all namespaces or one. */
export function podsPath(namespace?: string): string {
  return namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : "/api/v1/pods";
}

/** What the authority reads of a live Pod. */
export interface LivePod {
  uid: string;
  nodeName: string | undefined;
  serviceAccountName: string;
}

export class PodIdentityClient {
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** Reviews a token for one audience (the API server checks the bound Pod still exists). */
  async review(token: string, audience: string, signal?: AbortSignal): Promise<ReviewedToken> {
    const answer = await this.client.create<{ status?: ReviewStatus }>(
      "/apis/authentication.k8s.io/v1/tokenreviews",
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, audiences: [audience] },
      },
      { signal },
    );
    const status = answer.status ?? {};
    return {
      authenticated: status.authenticated === true,
      ...(status.user?.username ? { username: status.user.username } : {}),
      ...(status.audiences ? { audiences: status.audiences } : {}),
      ...(status.user?.extra ? { extra: status.user.extra } : {}),
      ...(status.error ? { error: status.error } : {}),
    };
  }

  /** The Pod as it is now, or undefined when it is gone. */
  async pod(namespace: string, name: string, signal?: AbortSignal): Promise<LivePod | undefined> {
    try {
      const pod = await this.client.get<V1Pod>(`${podsPath(namespace)}/${encodeURIComponent(name)}`, {
        signal,
      });
      return {
        uid: pod.metadata?.uid ?? "",
        nodeName: pod.spec?.nodeName,
        serviceAccountName: pod.spec?.serviceAccountName ?? "default",
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Merge-patches an association's status subresource; a deleted association is fine. */
  async patchStatus(
    namespace: string,
    name: string,
    status: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void> {
    await mergePatchStatus(
      this.client,
      `${associationsPath(namespace)}/${encodeURIComponent(name)}`,
      { status },
      signal,
    );
  }
}

interface ReviewStatus {
  authenticated?: boolean;
  audiences?: string[];
  error?: string;
  user?: { username?: string; extra?: Record<string, string[]> };
}
