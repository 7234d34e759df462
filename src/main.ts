// Wiring only: read the config, build the adapters, start the operator, handle signals.
import { hostname } from "node:os";
import { ConfigError, parseConfig } from "./config.ts";
import type { Config } from "./config.ts";
import { SdkAwsAccess } from "./aws/aws.ts";
import { RateLimiters } from "./aws/rate-limit.ts";
import { Operator } from "./operator.ts";
import { LeaderElector } from "./runtime/leader.ts";
import { EventRecorder } from "./kube/events.ts";
import { SecretClient } from "./kube/secrets.ts";
import { startHealthServer, startMetricsServer } from "./ops/http.ts";
import { createLogger } from "./ops/logging.ts";
import { Metrics } from "./ops/metrics.ts";
import { KubeClient } from "./kube/client.ts";
import { loadConnection } from "./kube/kubeconfig.ts";
import { isIP } from "node:net";
import type { Logger } from "pino";
import type { ServingCertificateSource } from "./features/pod-identity/certificates.ts";
import type { PodIdentityServer, Routes } from "./features/pod-identity/server.ts";

const SHUTDOWN_LIMIT_MS = 9_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    const parsed = parseConfig(process.argv.slice(2), process.env, { hostname: hostname() });
    if (parsed.help) {
      process.stdout.write(parsed.text);
      return;
    }
    config = parsed.config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }

  const logger = createLogger(config.logLevel);
  let client: KubeClient;
  try {
    client = new KubeClient(loadConnection(), config.requestTimeoutMs);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }

  const limiters = new RateLimiters({
    "sts:AssumeRole": { ratePerSecond: config.stsRate, burst: config.stsBurst },
    "ecr:GetAuthorizationToken": { ratePerSecond: config.ecrRate, burst: config.ecrBurst },
  });
  const metrics = new Metrics({
    reconcileTimeoutMs: config.reconcileTimeoutMs,
    revision: process.env.AAR_REVISION,
  });
  const controller: Operator = await Operator.create({
    client,
    logger,
    watchedNamespaces: config.namespaces,
    concurrency: config.maxConcurrentReconciles,
    backoff: { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs },
    stallAfterMs: config.watchStallSeconds * 1000,
    relistEveryMs: config.relistSeconds * 1000,
    secretWriter: new SecretClient(client),
    events: new EventRecorder(client, logger, config.instance),
    aws: new SdkAwsAccess(limiters, metrics.aws(), config.requestTimeoutMs),
    requestTimeoutMs: config.requestTimeoutMs,
    reconcileTimeoutMs: config.reconcileTimeoutMs,
    observer: metrics.reconcile(),
    clusterAssumeRoles: config.clusterAssumeRoles,
    clusterObserver: metrics.cluster(),
    serviceAccounts: config.serviceAccounts,
    ...(config.rolloutRestart
      ? {
          rolloutRestart: {
            maxSpacingMs: config.rolloutRestartSpacingMs,
            minRolloutSeconds: config.rolloutRestartMinSeconds,
            observer: metrics.restarts(),
          },
        }
      : {}),
    queueMetrics: metrics.queue,
    readiness: metrics.readiness,
    refreshRatio: config.refreshRatio,
    jitterFraction: config.refreshJitter,
    refreshEvents: config.refreshEvents,
    conflictRetryMs: config.conflictRetryMs,
    permanentErrorRetryMs: config.permanentErrorRetryMs,
    namespacePermissions: config.namespacePermissions,
    ...(config.podIdentity
      ? { podIdentity: { agent: agentOf(config.podIdentityAgent), observer: metrics.podIdentity() } }
      : {}),
    sessionTags: {
      enabled: config.sessionTags,
      ...(config.clusterName ? { clusterName: config.clusterName } : {}),
    },
  });

  const servers = await Promise.all([
    startMetricsServer(config.metricsBindAddress, metrics.registry),
    startHealthServer(config.healthProbeBindAddress, controller),
  ]);
  const podIdentity = controller.podIdentity
    ? startPodIdentity(config, client, controller.podIdentity.routes(), logger)
    : undefined;
  metrics.resourceCount = () => controller.resourceCount();
  metrics.cachedServiceAccounts = () => controller.cachedServiceAccounts();
  metrics.watches = () => controller.watches();
  if (config.clusterAssumeRoles) metrics.clusterResourceCount = () => controller.clusterResourceCount();

  const elector = config.leaderElect
    ? new LeaderElector({
        client,
        namespace: config.leaderElectionNamespace,
        name: config.leaderElectionId,
        identity: config.instance,
        logger,
        onStartedLeading: () => {
          metrics.setLeader(true);
          void controller.startWorkers();
        },
        onStoppedLeading: () => {
          // Another replica may already be writing: stop everything at once, like controller-runtime does.
          metrics.setLeader(false);
          logger.error("leadership lost; exiting so that only the new leader works");
          process.exit(1);
        },
      })
    : undefined;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const forced = setTimeout(() => {
      logger.warn("in-flight work did not finish in time; exiting");
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    forced.unref();
    await controller.stopWorkers();
    await elector?.release();
    controller.stopCaches();
    for (const server of servers) server?.close();
    await podIdentity?.stop();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  logger.info(
    { namespaces: config.namespaces.length ? config.namespaces : "all", instance: config.instance },
    "starting",
  );
  await controller.startCaches();
  if (elector) {
    metrics.setLeader(false);
    elector.start();
  } else {
    metrics.setLeader(true);
    await controller.startWorkers();
  }
}

/** `namespace/name` of --pod-identity-agent (checked by config.ts). */
function agentOf(value: string): { namespace: string; serviceAccount: string } {
  const [namespace = "", serviceAccount = ""] = value.split("/");
  return { namespace, serviceAccount };
}

/**
 * The Pod Identity server on every replica: once its certificate is there (managed, or read from
 * --pod-identity-cert-dir), it serves the authority and the webhook. A certificate that cannot be had yet (RBAC, API
 * down) is retried; the rest of the operator does not wait for it. Its modules are imported only with --pod-identity.
 */
function startPodIdentity(
  config: Config,
  client: KubeClient,
  routes: Routes,
  logger: Logger,
): { stop(): Promise<void> } {
  const namespace = process.env.POD_NAMESPACE || "default";
  const ips = config.podIdentityExtraNames.filter((n) => isIP(n) !== 0);
  let stopped = false;
  let certificates: ServingCertificateSource | undefined;
  let server: PodIdentityServer | undefined;
  const started = (async () => {
    const [{ CertificateDirectory, ServingCertificates }, { startPodIdentityServer }] = await Promise.all([
      import("./features/pod-identity/certificates.ts"),
      import("./features/pod-identity/server.ts"),
    ]);
    if (stopped) return;
    const source = config.podIdentityCertDir
      ? new CertificateDirectory({ directory: config.podIdentityCertDir, logger })
      : new ServingCertificates({
          client,
          namespace,
          secretName: config.podIdentityTlsSecret,
          serviceName: config.podIdentityService,
          extraDnsNames: config.podIdentityExtraNames.filter((n) => isIP(n) === 0),
          extraIpAddresses: ips,
          webhookConfigurationName: config.podIdentityWebhook,
          caConfigMap: {
            namespace: agentOf(config.podIdentityAgent).namespace,
            name: config.podIdentityCaConfigMap,
          },
          logger,
        });
    certificates = source;
    for (let attempt = 1; !stopped; attempt++) {
      try {
        await source.start();
        break;
      } catch (err) {
        logger.error(
          { err: (err as Error).message, attempt },
          "pod identity: no serving certificate yet; retrying",
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** attempt)));
      }
    }
    if (stopped) return;
    server = await startPodIdentityServer({
      bindAddress: config.podIdentityBindAddress,
      certificates: source,
      routes,
      logger,
    });
    logger.info({ port: server.port }, "pod identity server listening");
  })().catch((err: unknown) => {
    logger.error({ err: (err as Error).message }, "pod identity server failed");
    process.exit(1);
  });
  return {
    stop: async () => {
      stopped = true;
      certificates?.stop();
      await started;
      await server?.close();
    },
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
