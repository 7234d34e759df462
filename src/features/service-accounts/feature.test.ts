// ServiceAccount wiring through fakes of its ports: the finalizer comes before the first entry, the entry is added
// and recorded, deletion takes it out and lets the resource go; without --service-accounts nothing is watched and a
// resource listing serviceAccounts is told so once.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { AWSAssumeRole, ServiceAccountsStatus } from "../../api/schema.ts";
import { SERVICE_ACCOUNTS_FINALIZER, parseRecord } from "../../domain/pull-secrets.ts";
import { cachedServiceAccount } from "../../kube/service-accounts.ts";
import type { CachedServiceAccount } from "../../kube/service-accounts.ts";
import { FakeEvents } from "../../credentials/ports.fakes.ts";
import { FakeInformers } from "../../runtime/informers.fakes.ts";
import { ServiceAccountWiring } from "./feature.ts";
import { ServiceAccountsDisabled } from "./disabled.ts";
import { OwnerWrites } from "./owner-writes.ts";
import type { ServiceAccountWriter } from "./owner-writes.ts";
import { ServiceAccountCache } from "./cache.ts";
import { WiringReconciler } from "./reconciler.ts";

const resource = (extra: Partial<AWSAssumeRole["metadata"]> = {}): AWSAssumeRole =>
  ({
    apiVersion: "pincette.net/v1",
    kind: "AWSAssumeRole",
    metadata: { namespace: "ns", name: "pull", uid: "u1", generation: 1, resourceVersion: "1", ...extra },
    spec: {
      roleName: "r",
      secretName: "ecr",
      secretType: "EcrDockerConfigJson",
      ecrRepositoryUrl: "https://1.dkr.ecr.eu-west-1.amazonaws.com",
      serviceAccounts: ["default"],
    },
  }) as AWSAssumeRole;

/** The API side: ServiceAccounts, and the writes to the resource. */
class FakeWriter implements ServiceAccountWriter {
  readonly accounts = new Map<string, CachedServiceAccount>();
  finalizers: string[][] = [];
  statuses: (ServiceAccountsStatus | null)[] = [];

  get(namespace: string, name: string): Promise<CachedServiceAccount | undefined> {
    return Promise.resolve(structuredClone(this.accounts.get(`${namespace}/${name}`)));
  }
  listWired(): Promise<CachedServiceAccount[]> {
    return Promise.resolve([...this.accounts.values()].filter((sa) => sa.metadata.record));
  }
  patchPullSecrets(
    sa: CachedServiceAccount,
    imagePullSecrets: { name?: string }[],
    record: string | undefined,
  ) {
    const updated = {
      metadata: { ...sa.metadata, ...(record !== undefined ? { record } : {}) },
      imagePullSecrets,
    };
    this.accounts.set(`${sa.metadata.namespace}/${sa.metadata.name}`, updated);
    return Promise.resolve(updated);
  }
  patchFinalizers(_ns: string, _name: string, _rv: string | undefined, finalizers: string[]): Promise<void> {
    this.finalizers.push(finalizers);
    return Promise.resolve();
  }
  patchStatus(_ns: string, _name: string, status: unknown): Promise<void> {
    this.statuses.push(status as ServiceAccountsStatus | null);
    return Promise.resolve();
  }
}

const common = (
  writer: FakeWriter,
  current: { r: AWSAssumeRole | undefined },
  events = new FakeEvents(),
) => ({
  resources: { get: () => current.r, list: () => (current.r ? [current.r] : []) },
  clusterResources: undefined,
  writer,
  events,
  logger: pino({ level: "silent" }),
  backoff: { baseMs: 1, maxMs: 1 },
  reconcileTimeoutMs: 60_000,
});

describe("service account wiring", () => {
  test("watches only the listed names and the ServiceAccounts carrying our record", () => {
    const informers = new FakeInformers();
    const writer = new FakeWriter();
    const current: { r: AWSAssumeRole | undefined } = { r: resource() };
    const sa: CachedServiceAccount = { metadata: { namespace: "ns", name: "default" }, imagePullSecrets: [] };
    writer.accounts.set("ns/default", sa);
    const wiring = new ServiceAccountWiring({
      ...common(writer, current),
      informers: informers.port,
      namespaceCache: undefined,
      watchedNamespaces: [],
    });
    wiring.startCaches();
    wiring.ownerChanged(current.r!, { deleted: false, statusOnly: false });
    // Only the listed name is watched (field-selected) and the ServiceAccounts carrying our record.
    assert.deepEqual([...informers.watches.keys()].sort(), [
      "serviceaccounts-default@*",
      "serviceaccounts-wired@*",
    ]);
    assert.equal(informers.get("serviceaccounts-default@*").spec.fieldSelector, "metadata.name=default");
  });

  test("finalizer first, then the entry; deletion takes the entry out and drops the finalizer", async () => {
    const informers = new FakeInformers();
    const writer = new FakeWriter();
    const current: { r: AWSAssumeRole | undefined } = { r: resource() };
    const raw = { metadata: { namespace: "ns", name: "default" }, imagePullSecrets: [] };
    writer.accounts.set("ns/default", cachedServiceAccount(raw));
    const cache = new ServiceAccountCache({
      informers: informers.port,
      watchedNamespaces: [],
      onChange: () => undefined,
      onNameSynced: () => undefined,
    });
    cache.follow("ns/pull", ["default"]);
    await cache.start();
    informers.get("serviceaccounts-default@*").put(raw);
    const base = common(writer, current);
    const reconciler = new WiringReconciler({
      ...base,
      cache,
      writes: new OwnerWrites(writer, base.events),
      namespaceCache: undefined,
      watchedNamespaces: [],
    });
    const signal = new AbortController().signal;

    assert.deepEqual(await reconciler.reconcile("ns/pull", signal), { kind: "done" });
    assert.deepEqual(writer.finalizers, [[SERVICE_ACCOUNTS_FINALIZER]], "the finalizer comes first");
    assert.equal(writer.accounts.get("ns/default")!.imagePullSecrets.length, 0);

    current.r = resource({ finalizers: [SERVICE_ACCOUNTS_FINALIZER] });
    await reconciler.reconcile("ns/pull", signal);
    const wired = writer.accounts.get("ns/default")!;
    assert.deepEqual(wired.imagePullSecrets, [{ name: "ecr" }]);
    assert.deepEqual(parseRecord(wired.metadata.record), { "AWSAssumeRole/pull": "ecr" });
    assert.equal(writer.statuses.at(-1)!.wired, 1);

    current.r = resource({
      finalizers: [SERVICE_ACCOUNTS_FINALIZER],
      deletionTimestamp: "2030-01-01T00:00:00Z",
    });
    await reconciler.reconcile("ns/pull", signal);
    assert.deepEqual(writer.accounts.get("ns/default")!.imagePullSecrets, []);
    assert.deepEqual(writer.finalizers.at(-1), [], "the finalizer goes once the entry is out");
  });

  test("without --service-accounts: no watch, the status says so and one Warning per generation", async () => {
    const writer = new FakeWriter();
    const events = new FakeEvents();
    const current: { r: AWSAssumeRole | undefined } = { r: resource() };
    const disabled = new ServiceAccountsDisabled(common(writer, current, events));
    const signal = new AbortController().signal;
    assert.equal(disabled.cachedObjects(), 0);
    await disabled.reconcile("ns/pull", signal);
    await disabled.reconcile("ns/pull", signal);
    assert.match(writer.statuses[0]!.message!, /runs without --service-accounts/);
    assert.deepEqual(events.reasons(), ["ServiceAccountsDisabled"]);

    // Deleted with our finalizer from an earlier run: it is dropped, never holding the deletion.
    current.r = resource({
      finalizers: [SERVICE_ACCOUNTS_FINALIZER],
      deletionTimestamp: "2030-01-01T00:00:00Z",
    });
    await disabled.reconcile("ns/pull", signal);
    assert.deepEqual(writer.finalizers, [[]]);
  });
});
