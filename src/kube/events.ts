// Kubernetes Events for AWSAssumeRole resources, aggregated like client-go's recorder: a repeat of the same
// (object, type, reason, message) within the window bumps the count of the existing Event instead of adding one.
import type { CoreV1Event } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { KubeClient } from "./client.ts";

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export type EventType = "Normal" | "Warning";

export interface EventSink {
  emit(target: EventTarget, type: EventType, reason: string, message: string): void;
}

interface Seen {
  eventName: string;
  count: number;
  firstTimestamp: Date;
  lastSeenMs: number;
}

const COMPONENT = "aws-assume-role-operator";
const AGGREGATION_WINDOW_MS = 10 * 60_000;
const MAX_TRACKED = 20_000;

const eventsPath = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;

export class EventRecorder implements EventSink {
  private readonly client: KubeClient;
  private readonly logger: Logger;
  private readonly instance: string;
  private readonly seen = new Map<string, Seen>();

  constructor(client: KubeClient, logger: Logger, instance: string) {
    this.client = client;
    this.logger = logger;
    this.instance = instance;
  }

  /** Fire-and-forget: an Event that cannot be written is logged, never fails a reconcile. */
  emit(target: EventTarget, type: EventType, reason: string, message: string): void {
    void this.write(target, type, reason, message).catch((err: unknown) => {
      this.logger.warn(
        { namespace: target.namespace, name: target.name, reason, err: (err as Error).message },
        "could not record event",
      );
    });
  }

  private async write(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    // A cluster-scoped object's Events live in "default", as the Node controller's do; involvedObject has no namespace.
    const namespace = target.namespace || "default";
    const key = `${target.uid}\u0000${type}\u0000${reason}\u0000${message}`;
    const now = new Date();
    const previous = this.seen.get(key);
    if (previous && now.getTime() - previous.lastSeenMs < AGGREGATION_WINDOW_MS) {
      previous.count++;
      previous.lastSeenMs = now.getTime();
      try {
        await this.client.mergePatch(`${eventsPath(namespace)}/${encodeURIComponent(previous.eventName)}`, {
          count: previous.count,
          lastTimestamp: now,
        });
        return;
      } catch {
        // The Event expired or was deleted: write a new one below.
      }
    }
    const eventName = `${target.name}.${randomBytes(8).toString("hex")}`;
    const body: CoreV1Event & { apiVersion: string; kind: string } = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: eventName, namespace },
      involvedObject: {
        apiVersion: target.apiVersion,
        kind: target.kind,
        namespace: target.namespace,
        name: target.name,
        uid: target.uid,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: this.instance,
    };
    await this.client.create(eventsPath(namespace), body);
    if (this.seen.size >= MAX_TRACKED) this.forgetOldest();
    this.seen.set(key, { eventName, count: 1, firstTimestamp: now, lastSeenMs: now.getTime() });
  }

  private forgetOldest(): void {
    const cutoff = Date.now() - AGGREGATION_WINDOW_MS;
    for (const [key, seen] of this.seen) if (seen.lastSeenMs < cutoff) this.seen.delete(key);
    if (this.seen.size >= MAX_TRACKED) this.seen.clear();
  }
}
