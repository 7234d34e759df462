// Secret writes for the credential reconcilers: create, replace with optimistic concurrency, delete with a UID precondition, and
// a live read for names the label-filtered cache cannot see. Decisions about what to write live elsewhere. Every
// request has a deadline: the caller's signal and the client's per-request timeout.
import type { V1Secret } from "@kubernetes/client-node";
import type { KubeClient } from "./client.ts";
import { isNotFound } from "../runtime/api-errors.ts";

const secretsPath = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
const secretPath = (namespace: string, name: string) =>
  `${secretsPath(namespace)}/${encodeURIComponent(name)}`;

export class SecretClient {
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  get(namespace: string, name: string, signal?: AbortSignal): Promise<V1Secret | undefined> {
    return this.client.getIfExists<V1Secret>(secretPath(namespace, name), { signal });
  }

  create(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret> {
    return this.client.create<V1Secret>(secretsPath(secret.metadata!.namespace!), secret, {
      ...(signal ? { signal } : {}),
    });
  }

  /** Replaces the Secret; `secret.metadata.resourceVersion` makes this fail with 409 if it changed meanwhile. */
  replace(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret> {
    const { namespace, name } = secret.metadata!;
    return this.client.replace<V1Secret>(secretPath(namespace!, name!), secret, { signal });
  }

  /** Deletes the Secret only if it is still the object with this UID (and resourceVersion, when given). */
  async delete(
    namespace: string,
    name: string,
    uid: string,
    resourceVersion?: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const body = {
      apiVersion: "v1",
      kind: "DeleteOptions",
      preconditions: { uid, ...(resourceVersion ? { resourceVersion } : {}) },
    };
    try {
      await this.client.delete(secretPath(namespace, name), body, { signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
