// The operator's AWS side: its own identity, AssumeRole with the operator's credentials (SDK default chain), and
// ECR tokens with the assumed credentials in the registry's region. Endpoints come only from the standard
// AWS_ENDPOINT_URL* variables, which the SDK reads itself. Every call passes the client-side rate limiter. The ECR
// client is imported on the first token call: an operator without an EcrDockerConfigJson resource never pays its RSS
// (docs/benchmarks.md, "imports").
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentials, EcrToken } from "../domain/credentials.ts";
import { parseCallerArn } from "../domain/naming.ts";
import type { CallerIdentity } from "../domain/naming.ts";
import { classifyAwsError } from "./errors.ts";
import type { AwsApi, RateLimiters } from "./rate-limit.ts";

export interface AssumeRoleRequest {
  roleArn: string;
  sessionName: string;
  durationSeconds: number;
  externalId?: string;
  policy?: string;
  policyArns?: string[];
  tags?: Record<string, string>;
  transitiveTagKeys?: string[];
  /** STS region (regional endpoint); default: the operator's region. */
  region?: string;
}

/** What the credential steps need from AWS; errors are AwsFailure. `signal` aborts the call (the reconcile's deadline). */
export interface AwsAccess {
  callerIdentity(signal?: AbortSignal): Promise<CallerIdentity & { arn: string }>;
  assumeRole(request: AssumeRoleRequest, signal?: AbortSignal): Promise<AwsCredentials>;
  ecrToken(credentials: AwsCredentials, region: string, signal?: AbortSignal): Promise<EcrToken>;
}

export interface AwsObserver {
  /** Called after every AWS call with its API, outcome and duration (metrics). */
  onCall?(api: AwsApi, outcome: string, seconds: number): void;
}

/** The default deadline of one AWS request: to connect, and to get the answer. */
export const DEFAULT_AWS_REQUEST_TIMEOUT_MS = 10_000;

export class SdkAwsAccess implements AwsAccess {
  private readonly sts: STSClient;
  private readonly http: STSClient["config"]["requestHandler"];
  private readonly regionalSts = new Map<string, STSClient>();
  private readonly limiters: RateLimiters;
  private readonly observer: AwsObserver;
  private ecrModule: Promise<typeof import("@aws-sdk/client-ecr")> | undefined;
  /** Client options every client shares: no SDK retries, and a deadline on every request. */
  private readonly common: {
    maxAttempts: number;
    requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: boolean };
  };

  constructor(
    limiters: RateLimiters,
    observer: AwsObserver = {},
    requestTimeoutMs = DEFAULT_AWS_REQUEST_TIMEOUT_MS,
  ) {
    // Retries are the work queue's (per-key backoff with jitter, behind the rate limiter), not the SDK's. Without a
    // timeout a connection that never answers would hold a worker forever; the SDK only warns about a request
    // timeout unless throwOnRequestTimeout is set.
    this.common = {
      maxAttempts: 1,
      requestHandler: {
        connectionTimeout: requestTimeoutMs,
        requestTimeout: requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    };
    this.sts = new STSClient({ ...this.common });
    // One connection pool for every client: regional STS clients and the ECR client made per token call (with the
    // assumed credentials) use the default STS client's handler, so they reuse its keep-alive connections instead of
    // each opening (and TLS-handshaking) its own. Those clients are therefore never destroy()ed: that would close
    // the shared pool.
    this.http = this.sts.config.requestHandler;
    this.limiters = limiters;
    this.observer = observer;
  }

  async callerIdentity(signal?: AbortSignal): Promise<CallerIdentity & { arn: string }> {
    const out = await this.call("sts:GetCallerIdentity", "GetCallerIdentity", () =>
      this.sts.send(new GetCallerIdentityCommand({}), { abortSignal: signal }),
    );
    const arn = out.Arn ?? "";
    return { ...parseCallerArn(arn), arn };
  }

  async assumeRole(request: AssumeRoleRequest, signal?: AbortSignal): Promise<AwsCredentials> {
    const tags = Object.entries(request.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    const out = await this.call("sts:AssumeRole", `AssumeRole ${request.roleArn}`, () =>
      this.stsFor(request.region).send(
        new AssumeRoleCommand({
          RoleArn: request.roleArn,
          RoleSessionName: request.sessionName,
          DurationSeconds: request.durationSeconds,
          ...(request.externalId ? { ExternalId: request.externalId } : {}),
          ...(request.policy ? { Policy: request.policy } : {}),
          ...(request.policyArns?.length ? { PolicyArns: request.policyArns.map((arn) => ({ arn })) } : {}),
          ...(tags.length ? { Tags: tags } : {}),
          ...(request.transitiveTagKeys?.length ? { TransitiveTagKeys: request.transitiveTagKeys } : {}),
        }),
        { abortSignal: signal },
      ),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw classifyAwsError(
        new Error("the response held no complete credentials"),
        `AssumeRole ${request.roleArn}`,
      );
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expirationTime: new Date(c.Expiration),
    };
  }

  /** One client per region, so each resource's AssumeRole goes to the regional endpoint it asked for. */
  private stsFor(region: string | undefined): STSClient {
    if (!region) return this.sts;
    let client = this.regionalSts.get(region);
    if (!client) {
      client = new STSClient({ ...this.common, region, requestHandler: this.http });
      this.regionalSts.set(region, client);
    }
    return client;
  }

  async ecrToken(credentials: AwsCredentials, region: string, signal?: AbortSignal): Promise<EcrToken> {
    this.ecrModule ??= import("@aws-sdk/client-ecr");
    const { ECRClient, GetAuthorizationTokenCommand } = await this.ecrModule;
    const ecr = new ECRClient({
      ...this.common,
      requestHandler: this.http,
      region,
      credentials: {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        sessionToken: credentials.sessionToken,
      },
    });
    const out = await this.call("ecr:GetAuthorizationToken", `ECR GetAuthorizationToken in ${region}`, () =>
      ecr.send(new GetAuthorizationTokenCommand({}), { abortSignal: signal }),
    );
    const data = out.authorizationData?.[0];
    if (!data?.authorizationToken || !data.expiresAt) {
      throw classifyAwsError(new Error("the response held no token"), "ECR GetAuthorizationToken");
    }
    return { token: data.authorizationToken, expirationTime: new Date(data.expiresAt) };
  }

  private async call<T>(api: AwsApi, what: string, send: () => Promise<T>): Promise<T> {
    await this.limiters.limiter(api).take();
    const started = performance.now();
    try {
      const out = await send();
      this.observer.onCall?.(api, "success", (performance.now() - started) / 1000);
      return out;
    } catch (err) {
      const failure = classifyAwsError(err, what);
      this.observer.onCall?.(api, failure.reason, (performance.now() - started) / 1000);
      throw failure;
    }
  }
}
