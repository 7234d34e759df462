// Secret writes for the engine: create, replace with optimistic concurrency, delete with a UID precondition, and
// a live read for names the label-filtered cache cannot see. Decisions about what to write live elsewhere.
import { CoreV1Api } from "@kubernetes/client-node";
import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import { isNotFound } from "./errors.ts";

export class SecretClient {
  private readonly core: CoreV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async get(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  create(secret: V1Secret): Promise<V1Secret> {
    return this.core.createNamespacedSecret({ namespace: secret.metadata!.namespace!, body: secret });
  }

  /** Replaces the Secret; `secret.metadata.resourceVersion` makes this fail with 409 if it changed meanwhile. */
  replace(secret: V1Secret): Promise<V1Secret> {
    const { namespace, name } = secret.metadata!;
    return this.core.replaceNamespacedSecret({ namespace: namespace!, name: name!, body: secret });
  }

  /** Deletes the Secret only if it is still the object with this UID (and resourceVersion, when given). */
  async delete(namespace: string, name: string, uid: string, resourceVersion?: string): Promise<void> {
    try {
      await this.core.deleteNamespacedSecret({
        namespace,
        name,
        body: { preconditions: { uid, ...(resourceVersion ? { resourceVersion } : {}) } },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
