// The credential authority: answers a node agent's request for a Pod's credentials. Every replica serves it. The agent
// proves who it is with its own bound token (the agent's ServiceAccount, bound to a Pod on a node); the Pod's token
// is reviewed for the Pod audience, its Pod must still exist with the token's uid and run on the agent's node, and its
// ServiceAccount must have an association that is allowed its role. Only then does anything reach AWS, through the
// association's shared credentials (credentials/association-credentials.ts).
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { AWSPodIdentityAssociation } from "../../api/pod-identity-schema.ts";
import type { AssociationCredentials } from "../../credentials/association-credentials.ts";
import {
  AGENT_TOKEN_AUDIENCE,
  POD_TOKEN_AUDIENCE,
  Refusal,
  RefusedError,
  agentNode,
  tokenIdentity,
} from "../../domain/pod-identity.ts";
import type { ContainerCredentials, ReviewedToken } from "../../domain/pod-identity.ts";
import type { LivePod } from "../../kube/pod-identity.ts";
import type { RouteHandler } from "./server.ts";

/** The header that carries the Pod's token from the agent (Authorization carries the agent's own). */
export const POD_TOKEN_HEADER = "x-pod-token";
/** A reviewed agent token is trusted this long before it is reviewed again (the kubelet rotates it hourly). */
const AGENT_REVIEW_TTL_MS = 60_000;
const MAX_AGENT_REVIEWS = 10_000;

export interface AuthorityPorts {
  review(token: string, audience: string, signal?: AbortSignal): Promise<ReviewedToken>;
  pod(namespace: string, name: string, signal?: AbortSignal): Promise<LivePod | undefined>;
}

export interface AuthorityOptions {
  ports: AuthorityPorts;
  /** The association that serves a ServiceAccount, if any (the oldest of several). */
  associationFor(namespace: string, serviceAccount: string): AWSPodIdentityAssociation | undefined;
  credentials: AssociationCredentials;
  /** False until the association cache has listed once: "no association" cannot be told before that. */
  ready?: () => boolean;
  /** The trusted agent's ServiceAccount (--pod-identity-agent). */
  agent: { namespace: string; serviceAccount: string };
  logger: Logger;
  /** Deadline of one request, for every call it makes. */
  requestTimeoutMs: number;
  /** Told of every answer: its code ("Ok" or the refusal's) and duration (metrics). */
  onAnswer?: (code: string, seconds: number) => void;
  now?: () => number;
}

export interface AuthorityRequest {
  /** The Authorization header: `Bearer <agent token>`. */
  authorization: string | undefined;
  podToken: string | undefined;
}

export type AuthorityAnswer =
  { status: 200; body: ContainerCredentials } | { status: number; body: { Code: string; Message: string } };

export class CredentialAuthority {
  private readonly options: AuthorityOptions;
  private readonly now: () => number;
  private readonly agentReviews = new Map<string, { nodeName: string; until: number }>();

  constructor(options: AuthorityOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** The route of `GET /v1/pod-credentials`. */
  route(): RouteHandler {
    return async (request) => {
      const started = this.now();
      const podToken = request.headers[POD_TOKEN_HEADER];
      const answer = await this.answer(
        {
          authorization: request.headers.authorization,
          podToken: Array.isArray(podToken) ? podToken[0] : podToken,
        },
        AbortSignal.timeout(this.options.requestTimeoutMs),
      );
      const code = answer.status === 200 ? "Ok" : (answer.body as { Code: string }).Code;
      this.options.onAnswer?.(code, (this.now() - started) / 1000);
      return { status: answer.status, body: answer.body, headers: { "cache-control": "no-store" } };
    };
  }

  /** Decides one request; never throws. */
  async answer(request: AuthorityRequest, signal?: AbortSignal): Promise<AuthorityAnswer> {
    try {
      return { status: 200, body: await this.credentials(request, signal) };
    } catch (err) {
      const refused =
        err instanceof RefusedError
          ? err
          : new RefusedError(
              Refusal.ServiceUnavailable,
              `The authority could not decide: ${(err as Error).message}`,
            );
      return { status: refused.status, body: { Code: refused.code, Message: refused.message } };
    }
  }

  private async credentials(request: AuthorityRequest, signal?: AbortSignal): Promise<ContainerCredentials> {
    const { logger } = this.options;
    const nodeName = await this.agentNode(request.authorization, signal);
    const podToken = request.podToken?.trim();
    if (!podToken) throw new RefusedError(Refusal.MissingToken, "The request carries no Pod token");

    const identity = tokenIdentity(
      await this.options.ports.review(podToken, POD_TOKEN_AUDIENCE, signal),
      POD_TOKEN_AUDIENCE,
    );
    if ("problem" in identity) {
      logger.info({ node: nodeName, problem: identity.problem }, "pod identity: refused a Pod token");
      throw new RefusedError(Refusal.InvalidToken, `Pod token refused: ${identity.problem}`);
    }
    const { namespace, serviceAccount, pod } = identity;
    const log = { namespace, serviceAccount, pod: pod?.name, node: nodeName };
    if (!pod) {
      throw new RefusedError(Refusal.InvalidToken, "Pod token refused: it is not bound to a Pod");
    }
    const live = await this.options.ports.pod(namespace, pod.name, signal);
    if (!live || live.uid !== pod.uid) {
      logger.info(log, "pod identity: refused the token of a Pod that no longer exists");
      throw new RefusedError(
        Refusal.InvalidToken,
        `Pod token refused: Pod ${namespace}/${pod.name} (uid ${pod.uid}) no longer exists`,
      );
    }
    if (live.nodeName !== nodeName || (identity.nodeName !== undefined && identity.nodeName !== nodeName)) {
      logger.warn(
        { ...log, podNode: live.nodeName },
        "pod identity: refused a Pod token presented by another node",
      );
      throw new RefusedError(
        Refusal.WrongNode,
        `Pod ${namespace}/${pod.name} runs on node ${live.nodeName ?? "(none)"}, not on ${nodeName}, whose agent asked`,
      );
    }
    if (this.options.ready && !this.options.ready()) {
      throw new RefusedError(
        Refusal.ServiceUnavailable,
        "The authority is starting: its caches are not filled yet",
      );
    }
    const association = this.options.associationFor(namespace, serviceAccount);
    if (!association) {
      throw new RefusedError(
        Refusal.NoAssociation,
        `ServiceAccount ${namespace}/${serviceAccount} has no AWSPodIdentityAssociation`,
      );
    }
    return this.options.credentials.credentialsFor(association, signal);
  }

  /** The node the asking agent speaks for; its review is trusted for a minute. */
  private async agentNode(authorization: string | undefined, signal?: AbortSignal): Promise<string> {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
    if (!token) throw new RefusedError(Refusal.AgentNotTrusted, "The request carries no agent token");
    const key = createHash("sha256").update(token).digest("hex");
    const now = this.now();
    const cached = this.agentReviews.get(key);
    if (cached && cached.until > now) return cached.nodeName;
    const result = agentNode(
      await this.options.ports.review(token, AGENT_TOKEN_AUDIENCE, signal),
      this.options.agent,
    );
    if ("problem" in result) {
      this.options.logger.warn({ problem: result.problem }, "pod identity: refused an agent");
      throw new RefusedError(Refusal.AgentNotTrusted, `Agent refused: ${result.problem}`);
    }
    if (this.agentReviews.size >= MAX_AGENT_REVIEWS) {
      for (const [k, v] of this.agentReviews) if (v.until <= now) this.agentReviews.delete(k);
      if (this.agentReviews.size >= MAX_AGENT_REVIEWS) this.agentReviews.clear();
    }
    this.agentReviews.set(key, { nodeName: result.nodeName, until: now + AGENT_REVIEW_TTL_MS });
    return result.nodeName;
  }
}
