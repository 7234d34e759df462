// In-memory fakes of the credential ports for its unit tests (not part of the build): a Kubernetes object store behind the Cache and writer
// ports (resourceVersions, 404/409 like the API server), recorded events, and scripted AWS answers.
import type { V1Secret } from "@kubernetes/client-node";
import { pino } from "pino";
import type { AWSAssumeRole, AWSAssumeRoleSpec } from "../api/schema.ts";
import { AwsFailure, classifyAwsError } from "../aws/errors.ts";
import type { AwsCredentials, EcrToken } from "../domain/credentials.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import type {
  AssumeRoleRequest,
  AwsAccess,
  Cache,
  CachedSecret,
  EventSink,
  EventTarget,
  SecretCache,
  SecretWriter,
  StatusWriter,
} from "./ports.ts";
import { cachedSecret, ownerUids } from "./secret-view.ts";
import { Reconciler } from "./namespaced-reconciler.ts";
import type { ReconcilerOptions } from "./namespaced-reconciler.ts";

export const T0 = new Date("2030-01-01T00:00:00Z");

/** An API error as @kubernetes/client-node throws it (statusCode only). */
export function apiError(code: number): Error {
  return Object.assign(new Error(`HTTP ${code}`), { code });
}

class Store<
  T extends { metadata?: { namespace?: string; name?: string; resourceVersion?: string } },
> implements Cache<T> {
  readonly objects = new Map<string, T>();
  private version = 100;

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }

  list(namespace?: string): readonly T[] {
    return [...this.objects.values()].filter(
      (o) => namespace === undefined || o.metadata?.namespace === namespace,
    );
  }

  put(object: T): T {
    const stored = structuredClone(object);
    stored.metadata!.resourceVersion = String(++this.version);
    this.objects.set(`${stored.metadata!.namespace}/${stored.metadata!.name}`, stored);
    return structuredClone(stored);
  }
}

/**
 * Secrets: the store is the API (through `writer`; tests read it directly) and, through `cache`, the informer cache
 * (always current), which hands out the same projection as the real one (metadata and data hash only).
 */
export class FakeSecrets extends Store<V1Secret> {
  writes = 0;

  readonly cache: SecretCache = {
    get: (namespace, name) => {
      const secret = this.get(namespace, name);
      return secret && cachedSecret(secret);
    },
    list: (namespace) => this.list(namespace).map((s) => cachedSecret(s)),
    byIndex: (_index, uid, namespace) =>
      this.list(namespace)
        .map((s): CachedSecret => cachedSecret(s))
        .filter((s) => ownerUids(s).includes(uid)),
  };
  liveReads = 0;
  /** Errors the next writes throw, in order. */
  failNext: Error[] = [];

  readonly writer: SecretWriter = {
    get: async (namespace, name) => {
      this.liveReads++;
      return this.get(namespace, name);
    },
    create: (secret) => this.create(secret),
    replace: (secret) => this.replace(secret),
    delete: (namespace, name, uid) => this.delete(namespace, name, uid),
  };

  async create(secret: V1Secret): Promise<V1Secret> {
    this.maybeFail();
    const { namespace, name } = secret.metadata!;
    if (this.get(namespace!, name!)) throw apiError(409);
    this.writes++;
    return this.put({ ...secret, metadata: { ...secret.metadata, uid: `uid-${name}-${this.writes}` } });
  }

  async replace(secret: V1Secret): Promise<V1Secret> {
    this.maybeFail();
    const { namespace, name, resourceVersion } = secret.metadata!;
    const current = this.get(namespace!, name!);
    if (!current || current.metadata!.resourceVersion !== resourceVersion) throw apiError(409);
    this.writes++;
    return this.put({ ...secret, metadata: { ...secret.metadata, uid: current.metadata!.uid! } });
  }

  async delete(namespace: string, name: string, uid: string): Promise<void> {
    const current = this.get(namespace, name);
    if (current?.metadata?.uid === uid) this.objects.delete(`${namespace}/${name}`);
  }

  private maybeFail(): void {
    const err = this.failNext.shift();
    if (err) throw err;
  }
}

/** AWSAssumeRoles; status patches are applied like the API server's merge patch (null removes a field). */
export class FakeResources extends Store<AWSAssumeRole> implements StatusWriter {
  statusWrites = 0;

  async patchStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void> {
    const current = this.get(namespace, name);
    if (!current) return;
    this.statusWrites++;
    const merged: Record<string, unknown> = { ...(current.status ?? {}) };
    for (const [k, v] of Object.entries(status)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    this.put({ ...current, status: merged });
  }

  /** Creates or updates a resource; a spec change bumps metadata.generation like the API server. */
  apply(name: string, spec: Partial<AWSAssumeRoleSpec>, namespace = "ns"): AWSAssumeRole {
    const current = this.get(namespace, name);
    const full = {
      roleName: "app",
      secretName: `${name}-aws`,
      secretType: "Map",
      ...spec,
    } as AWSAssumeRoleSpec;
    const changed = JSON.stringify(current?.spec) !== JSON.stringify(full);
    return this.put({
      apiVersion: "pincette.net/v1",
      kind: "AWSAssumeRole",
      metadata: {
        namespace,
        name,
        uid: current?.metadata.uid ?? `uid-${name}`,
        generation: (current?.metadata.generation ?? 0) + (changed ? 1 : 0),
      },
      spec: full,
      ...(current?.status ? { status: current.status } : {}),
    } as AWSAssumeRole);
  }
}

export class FakeEvents implements EventSink {
  readonly events: { type: string; reason: string; message: string; target: EventTarget }[] = [];
  emit(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): void {
    this.events.push({ type, reason, message, target });
  }
  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}

export type AwsAnswer = AwsCredentials | Error | ((request: AssumeRoleRequest) => AwsCredentials | Error);

/** AssumeRole answers in order (the last one repeats); ECR tokens from `ecrAnswer`. */
export class FakeAws implements AwsAccess {
  readonly requests: AssumeRoleRequest[] = [];
  ecrCalls = 0;
  answers: AwsAnswer[];
  ecrAnswer: (now: Date) => EcrToken | Error;
  identity: CallerIdentity & { arn: string } = {
    partition: "aws",
    account: "123456789012",
    assumedRole: false,
    arn: "arn:aws:iam::123456789012:user/operator",
  } as CallerIdentity & { arn: string };
  private readonly now: () => Date;

  constructor(now: () => Date, answers: AwsAnswer[] = []) {
    this.now = now;
    this.answers = answers;
    this.ecrAnswer = (t) => ({
      token: btoa("AWS:password"),
      expirationTime: new Date(t.getTime() + 12 * 3600_000),
    });
  }

  async callerIdentity(): Promise<CallerIdentity & { arn: string }> {
    return this.identity;
  }

  /** AssumeRole never answers; the call ends only when its signal aborts (like the SDK: an AbortError). */
  hang = false;

  async assumeRole(request: AssumeRoleRequest, signal?: AbortSignal): Promise<AwsCredentials> {
    this.requests.push(request);
    if (this.hang) {
      await new Promise((_resolve, reject) => {
        const abort = () =>
          reject(classifyAwsError(Object.assign(new Error("aborted"), { name: "AbortError" }), "AssumeRole"));
        if (signal?.aborted) abort();
        signal?.addEventListener("abort", abort, { once: true });
      });
    }
    const next = this.answers.length > 1 ? this.answers.shift()! : this.answers[0];
    const answer =
      typeof next === "function" ? next(request) : (next ?? credentials(this.now(), request.durationSeconds));
    if (answer instanceof Error) throw classifyAwsError(answer, `AssumeRole ${request.roleArn}`);
    return answer;
  }

  async ecrToken(): Promise<EcrToken> {
    this.ecrCalls++;
    const answer = this.ecrAnswer(this.now());
    if (answer instanceof Error)
      throw answer instanceof AwsFailure ? answer : classifyAwsError(answer, "ECR");
    return answer;
  }
}

/** Credentials valid for `seconds` from `now`. */
export function credentials(now: Date, seconds: number): AwsCredentials {
  return {
    accessKeyId: "ASIAEXAMPLE",
    secretAccessKey: "secret",
    sessionToken: "token",
    expirationTime: new Date(now.getTime() + seconds * 1000),
  };
}

/** An error as the AWS SDK throws it. */
export function awsError(code: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode } });
}

export interface Harness {
  reconciler: Reconciler;
  resources: FakeResources;
  secrets: FakeSecrets;
  events: FakeEvents;
  aws: FakeAws;
  clock: { now: Date };
}

export function harness(options: Partial<ReconcilerOptions> = {}): Harness {
  const clock = { now: T0 };
  const now = () => clock.now;
  const resources = new FakeResources();
  const secrets = new FakeSecrets();
  const events = new FakeEvents();
  const aws = new FakeAws(now);
  const reconciler = new Reconciler({
    resources,
    secrets: secrets.cache,
    secretWriter: secrets.writer,
    statusWriter: resources,
    events,
    aws,
    logger: pino({ level: "silent" }),
    refreshRatio: 2 / 3,
    jitterFraction: 0,
    conflictRetryMs: 30_000,
    permanentErrorRetryMs: 60_000,
    namespacePermissions: false,
    now,
    ...options,
  });
  return { reconciler, resources, secrets, events, aws, clock };
}
