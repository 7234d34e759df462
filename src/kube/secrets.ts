// Secret writes for the engine: create, replace with optimistic concurrency, delete with a UID precondition, and
// a live read for names the label-filtered cache cannot see. Decisions about what to write live elsewhere. Every
// request has a deadline: the caller's signal and the per-request timeout.
import { CoreV1Api } from "@kubernetes/client-node";
import type { ConfigurationOptions, KubeConfig, V1Secret } from "@kubernetes/client-node";
import { DEFAULT_REQUEST_TIMEOUT_MS, abortOptions, deadline } from "./deadline.ts";
import { isNotFound } from "./errors.ts";

export class SecretClient {
  private readonly core: CoreV1Api;
  private readonly requestTimeoutMs: number;

  constructor(kubeConfig: KubeConfig, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.requestTimeoutMs = requestTimeoutMs;
  }

  private options(signal: AbortSignal | undefined): ConfigurationOptions {
    return abortOptions(deadline(this.requestTimeoutMs, signal));
  }

  async get(namespace: string, name: string, signal?: AbortSignal): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name }, this.options(signal));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  create(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret> {
    return this.core.createNamespacedSecret(
      { namespace: secret.metadata!.namespace!, body: secret },
      this.options(signal),
    );
  }

  /** Replaces the Secret; `secret.metadata.resourceVersion` makes this fail with 409 if it changed meanwhile. */
  replace(secret: V1Secret, signal?: AbortSignal): Promise<V1Secret> {
    const { namespace, name } = secret.metadata!;
    return this.core.replaceNamespacedSecret(
      { namespace: namespace!, name: name!, body: secret },
      this.options(signal),
    );
  }

  /** Deletes the Secret only if it is still the object with this UID (and resourceVersion, when given). */
  async delete(
    namespace: string,
    name: string,
    uid: string,
    resourceVersion?: string,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.core.deleteNamespacedSecret(
        {
          namespace,
          name,
          body: { preconditions: { uid, ...(resourceVersion ? { resourceVersion } : {}) } },
        },
        this.options(signal),
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
