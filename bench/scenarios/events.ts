// events: Event writes of steady-state refreshes, with --refresh-events (every refresh writes one, as every release
// before it did) and without (the default: routine refreshes write none) → Event writes per second and per refresh
// at the API server (the tap), and the figure for --events-resources resources with the default 900 s credentials.
// The run keeps the refresh rate of that installation with fewer resources: credentials that live
// --events-lifetime-seconds (the AWS proxy rewrites their Expiration), and resources × lifetime / 900 of them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_DURATION_SECONDS } from "../../src/api/schema.ts";
import { startApiserverTap, tapCounts } from "../apiserver-tap.ts";
import type { TappedRequest } from "../apiserver-tap.ts";
import { createNamespace, createResources, deleteNamespaces, resourceNames } from "../cluster.ts";
import type { BenchContext } from "../context.ts";
import { operatorArgs, timeoutMs } from "../context.ts";
import { OperatorProcess, sleep } from "../operator-process.ts";
import { table } from "../report.ts";
import { fixed } from "../stats.ts";
import { ResourceTracker } from "../tracker.ts";

const RATIO = 0.6667;
const EVENT_RESOURCES = new Set(["events", "events.k8s.io/events"]);
const WRITE_VERBS = new Set(["POST", "PUT", "PATCH"]);

interface Round {
  mode: string;
  windowSeconds: number;
  secretWrites: number;
  eventWrites: number;
}

/** Writes of Events and of Secrets in [since, until). */
function writes(requests: readonly TappedRequest[], since: number, until: number) {
  let eventWrites = 0;
  let secretWrites = 0;
  for (const [key, n] of tapCounts(requests, since, until)) {
    const [verb = "", resource = ""] = key.split(" ");
    if (!WRITE_VERBS.has(verb)) continue;
    if (EVENT_RESOURCES.has(resource)) eventWrites += n;
    if (resource === "secrets") secretWrites += n;
  }
  return { eventWrites, secretWrites };
}

export async function events(ctx: BenchContext): Promise<void> {
  const { options: o, world: w, proxy, report } = ctx;
  const lifetime = o.eventsLifetimeSeconds;
  const count = Math.max(1, Math.round((o.eventsResources * lifetime) / DEFAULT_DURATION_SECONDS));
  // Refreshes per second of the installation modelled: each resource once per two thirds of 900 s.
  const modelledRate = o.eventsResources / (DEFAULT_DURATION_SECONDS * RATIO);
  const dir = mkdtempSync(join(tmpdir(), "aar-bench-"));
  const tap = await startApiserverTap(w.kubeConfig, join(dir, "kubeconfig"));
  const namespace = await createNamespace("events");
  const tracker = new ResourceTracker(w.kubeConfig, w.custom, namespace);
  const rounds: Round[] = [];
  let op: OperatorProcess | undefined;
  proxy.setLifetime({ stsSeconds: lifetime });
  try {
    await tracker.start();
    for (const [mode, flags] of [
      ["--refresh-events (before)", ["--refresh-events"]],
      ["default (after)", []],
    ] as const) {
      op = await OperatorProcess.start({
        namespaces: [namespace],
        awsEndpoint: proxy.url,
        kubeconfigPath: tap.kubeconfigPath,
        args: [...operatorArgs(o), ...flags],
      });
      await op.waitForLog("workers started", 60_000);
      if (rounds.length === 0) {
        await createResources(namespace, resourceNames(count), o.createConcurrency);
        await tracker.waitFor(
          `${count} resources Ready`,
          () => tracker.readyCount() >= count,
          timeoutMs(o),
          () => `${tracker.readyCount()}/${count} Ready`,
        );
      }
      // One whole lifetime first: every resource has refreshed under this process (the restart's catch-up and the
      // first issues, which write Created, fall before the window).
      await sleep(lifetime * 1000);
      const t0 = Date.now();
      await sleep(o.eventsWindowSeconds * 1000);
      const t1 = Date.now();
      rounds.push({ mode, windowSeconds: (t1 - t0) / 1000, ...writes(tap.requests, t0, t1) });
      await op.stop();
      op = undefined;
    }

    const rows = rounds.map((r) => {
      const perRefresh = r.secretWrites > 0 ? r.eventWrites / r.secretWrites : 0;
      return [
        r.mode,
        fixed(r.windowSeconds, 0),
        r.secretWrites,
        fixed(r.secretWrites / r.windowSeconds, 1),
        r.eventWrites,
        fixed(r.eventWrites / r.windowSeconds, 2),
        fixed(perRefresh, 3),
        fixed(perRefresh * modelledRate, 2),
      ];
    });
    report.emit(
      [
        `### events: Event writes of routine refreshes, ${o.eventsResources} resources`,
        "",
        `${count} resources whose credentials live ${lifetime} s refresh as often as ${o.eventsResources} with the ` +
          `default ${DEFAULT_DURATION_SECONDS} s (${fixed(modelledRate, 1)} refreshes/s at two thirds of the lifetime). ` +
          `Each operator ran one lifetime before its ${o.eventsWindowSeconds} s window; requests counted at the API ` +
          `server (tap): Event writes are POST/PATCH of events (a repeat of the same message patches the count), a ` +
          `refresh is one Secret write. Operator: \`${operatorArgs(o).join(" ")}\` plus the mode's flag.`,
        "",
        table(
          [
            "mode",
            "window (s)",
            "Secret writes",
            "refreshes/s",
            "Event writes",
            "Event writes/s",
            "Event writes per refresh",
            `Event writes/s at ${o.eventsResources} (${DEFAULT_DURATION_SECONDS} s)`,
          ],
          rows,
          ["l", "r", "r", "r", "r", "r", "r", "r"],
        ),
      ].join("\n"),
    );
  } finally {
    await op?.stop();
    proxy.setLifetime({});
    tracker.stop();
    await tap.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteNamespaces([namespace], timeoutMs(o));
  }
}
