// The chart installs and upgrades the CRDs as templates (crds.enabled, crds.keep). Rendered: the same CRDs src/api
// builds. On the test world: a release of an earlier chart version, whose crds/ folder helm never upgrades, is
// upgraded to this chart after the documented adoption commands; a field added since is then accepted by the API
// server, and no resource is lost, also not when the release is uninstalled.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildCrd, CRDS, crdName } from "../src/api/crd.ts";
import { adoptCrds, CHART, helm, renderChart } from "./support/chart.ts";
import type { Rendered } from "./support/chart.ts";
import { eventually, kubectl, ROOT, world } from "./support/world.ts";

const run = promisify(execFile);
const crdsOf = (objects: Rendered[]) => objects.filter((o) => o.kind === "CustomResourceDefinition");

describe("CRDs as chart templates", () => {
  test("helm renders each CRD with the spec src/api builds, the chart's labels and the keep policy", async () => {
    const rendered = crdsOf(await renderChart());
    // Helm orders templates by file name.
    assert.deepEqual(rendered.map((c) => c.metadata.name).sort(), CRDS.map(crdName).sort());
    for (const def of CRDS) {
      const crd = rendered.find((c) => c.metadata.name === crdName(def))!;
      assert.deepEqual(crd.spec, (buildCrd(def) as { spec: unknown }).spec);
      assert.equal(crd.metadata.labels?.["app.kubernetes.io/managed-by"], "Helm");
      assert.equal(crd.metadata.labels?.["app.kubernetes.io/part-of"], "aws-assume-role-operator");
      assert.deepEqual(crd.metadata.annotations, { "helm.sh/resource-policy": "keep" });
    }
  });

  test("crds.keep=false leaves the keep policy out; crds.enabled=false renders no CRD", async () => {
    const unkept = crdsOf(await renderChart({ set: { "crds.keep": "false" } }));
    assert.equal(unkept.length, CRDS.length);
    for (const crd of unkept) assert.equal(crd.metadata.annotations, undefined);
    assert.deepEqual(crdsOf(await renderChart({ set: { "crds.enabled": "false" } })), []);
  });
});

/**
 * The chart of main before spec.serviceAccounts (issue 11) was merged: its CRDs come from crds/, and they lack a field
 * this chart's CRDs have. A real earlier version, not a simulated one.
 */
const PREVIOUS = "10e544d79af3e69b3d62fd4e21f240035685f95b";
const ADDED_FIELD = "serviceAccounts";

/**
 * The CRDs are cluster-wide and every other test file uses them at the same time, so this test must not replace them
 * with an earlier schema. It moves both chart versions' CRDs, unchanged otherwise, into an API group and resource
 * names of their own (no short names or categories, which would make `kubectl get aar` ambiguous for the others).
 */
function isolate(text: string, group: string, tag: string): string {
  return text
    .replaceAll("pincette.net", group)
    .replaceAll("awsassumerole", `${tag}role`)
    .replace(/^( *)(shortNames|categories):\n(?:\1 {2}- .*\n)+/gm, "");
}

function isolateFolder(folder: string, group: string, tag: string): void {
  for (const file of readdirSync(folder)) {
    const path = join(folder, file);
    writeFileSync(path, isolate(readFileSync(path, "utf8"), group, tag));
  }
}

describe("helm upgrade from the previous chart version, with resources present", () => {
  const suffix = randomBytes(3).toString("hex");
  const tag = `upg${suffix}`;
  const group = `${tag}.pincette.test`;
  const release = `upg-${suffix}`;
  const namespace = `upg-${suffix}`;
  const allCrds = CRDS.map((def) => `${def.plural.replace("awsassumerole", `${tag}role`)}.${group}`);
  // The kinds PREVIOUS had; the upgrade adds the others (AWSPodIdentityAssociation).
  const crds = allCrds.slice(0, 2);
  const [namespacedCrd, clusterCrd] = crds as [string, string];
  const dir = mkdtempSync(join(tmpdir(), "aar-upgrade-"));
  const [previous, current] = [join(dir, "previous"), join(dir, "current")];

  after(async () => {
    await helm(["uninstall", release, "--namespace", namespace]).catch(() => undefined);
    await kubectl(["delete", "crd", ...allCrds, "--ignore-not-found", "--wait=true"]).catch(() => undefined);
    await kubectl(["delete", "namespace", namespace, "--ignore-not-found"]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every resource of both kinds, as kind/namespace/name → uid. */
  async function resources(): Promise<Record<string, string>> {
    const found: Record<string, string> = {};
    for (const crd of crds) {
      const list = JSON.parse(await kubectl(["get", crd, "-A", "-o", "json"])) as {
        items: { kind: string; metadata: { namespace?: string; name: string; uid: string } }[];
      };
      for (const r of list.items)
        found[`${r.kind}/${r.metadata.namespace ?? ""}/${r.metadata.name}`] = r.metadata.uid;
    }
    return found;
  }

  /** A namespaced resource using the field added since PREVIOUS, created with strict field validation. */
  const withAddedField = (name: string) =>
    kubectl(
      ["create", "--validate=strict", "-o", "name", "-f", "-"],
      JSON.stringify({
        apiVersion: `${group}/v1`,
        kind: "AWSAssumeRole",
        metadata: { name, namespace },
        spec: {
          roleName: "pull",
          secretName: name,
          secretType: "EcrDockerConfigJson",
          ecrRepositoryUrl: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
          [ADDED_FIELD]: ["default"],
        },
      }),
    );

  test("after the adoption commands the CRDs are upgraded: the new field is accepted, nothing is lost, uninstall keeps them", async () => {
    await world();
    const { stdout: archive } = await run(
      "git",
      ["archive", "--format=tar", PREVIOUS, "charts/aws-assume-role"],
      {
        cwd: ROOT,
        encoding: "buffer",
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const tar = join(dir, "previous.tar");
    writeFileSync(tar, archive);
    await run("tar", ["-xf", tar, "-C", dir]);
    cpSync(join(dir, "charts", "aws-assume-role"), previous, { recursive: true });
    cpSync(CHART, current, { recursive: true });
    isolateFolder(join(previous, "crds"), group, tag);
    isolateFolder(join(current, "templates", "crds"), group, tag);
    const previousCrd = readFileSync(join(previous, "crds", `${crdName(CRDS[0]!)}.yaml`), "utf8");
    assert.doesNotMatch(
      previousCrd,
      new RegExp(`\\b${ADDED_FIELD}:`),
      `${PREVIOUS} already has spec.${ADDED_FIELD}`,
    );

    // The earlier version: helm creates its CRDs from crds/, then a resource of each kind.
    await helm(["install", release, previous, "--namespace", namespace, "--create-namespace"]);
    await kubectl([
      "wait",
      "--for",
      "condition=established",
      "--timeout=60s",
      ...crds.map((c) => `crd/${c}`),
    ]);
    const existing = [
      {
        apiVersion: `${group}/v1`,
        kind: "AWSAssumeRole",
        metadata: { name: "before-upgrade", namespace },
        spec: { roleName: "reader", secretName: "reader", secretType: "Map" },
      },
      {
        apiVersion: `${group}/v1`,
        kind: "ClusterAWSAssumeRole",
        metadata: { name: `before-upgrade-${suffix}` },
        spec: {
          roleName: "reader",
          secretName: "reader",
          secretType: "File",
          namespaceSelector: { matchLabels: { team: "a" } },
        },
      },
    ];
    for (const resource of existing) await kubectl(["create", "-f", "-"], JSON.stringify(resource));
    const before = await resources();
    assert.equal(Object.keys(before).length, 2, JSON.stringify(before));
    await assert.rejects(withAddedField("too-early"), new RegExp(`unknown field "spec\\.${ADDED_FIELD}"`));

    // Helm never adopts objects it did not create: without the commands of docs/chart.md the upgrade stops.
    await assert.rejects(
      helm(["upgrade", release, current, "--namespace", namespace]),
      /exists and cannot be imported into the current release: invalid ownership metadata/,
    );
    await adoptCrds(release, namespace, crds);
    await helm(["upgrade", release, current, "--namespace", namespace]);

    const crd = JSON.parse(await kubectl(["get", "crd", namespacedCrd, "-o", "json"])) as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    };
    assert.equal(crd.metadata.annotations["helm.sh/resource-policy"], "keep");
    assert.equal(crd.metadata.labels["helm.sh/chart"], `aws-assume-role-${chartVersion()}`);
    await eventually(
      `spec.${ADDED_FIELD} accepted after the upgrade`,
      () => withAddedField("after-upgrade"),
      30_000,
    );
    const stored = JSON.parse(
      await kubectl(["get", namespacedCrd, "after-upgrade", "-n", namespace, "-o", "json"]),
    ) as { spec: Record<string, unknown> };
    assert.deepEqual(stored.spec[ADDED_FIELD], ["default"]);
    const afterUpgrade = await resources();
    for (const [key, uid] of Object.entries(before))
      assert.equal(afterUpgrade[key], uid, `${key} lost in the upgrade`);

    // crds.keep (the default): uninstalling leaves the CRDs, and so every resource, in place.
    await helm(["uninstall", release, "--namespace", namespace]);
    await kubectl(["get", "crd", namespacedCrd, clusterCrd]);
    assert.deepEqual(await resources(), afterUpgrade);
  });
});

function chartVersion(): string {
  return /^version: (\S+)$/m.exec(readFileSync(join(CHART, "Chart.yaml"), "utf8"))![1]!;
}
