// values.schema.json: it describes every value of values.yaml and accepts them, and helm (lint, template, install)
// refuses a misspelt or wrongly typed value with the schema's message instead of ignoring it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { parse } from "yaml";
import { CHART, helm, kubeVersionArgs, renderChart, valueArgs } from "./support/chart.ts";
import type { RenderOptions } from "./support/chart.ts";

interface SchemaNode {
  type?: string | string[];
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
}

const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as SchemaNode;
const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Record<string, unknown>;

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Paths of values.yaml that the schema does not describe: a key missing from a node that lists `properties`, or a
 * schema node without a description. A node without `properties` is free-form (a Kubernetes type such as
 * `affinity`): its keys are Kubernetes' to check.
 */
function undescribedValues(value: unknown, node: SchemaNode | undefined, path: string): string[] {
  if (!node) return [path];
  const missing = node.description || path === "" ? [] : [`${path} (no description)`];
  if (isMap(value) && node.properties) {
    for (const [key, child] of Object.entries(value))
      missing.push(...undescribedValues(child, node.properties[key], path ? `${path}.${key}` : key));
  }
  return missing;
}

/** Schema properties that values.yaml does not set: each value must have its default, and so its comment, there. */
function withoutDefault(node: SchemaNode, value: unknown, path: string): string[] {
  const missing: string[] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const here = path ? `${path}.${key}` : key;
    if (!isMap(value) || !(key in value)) missing.push(here);
    else missing.push(...withoutDefault(child, value[key], here));
  }
  return missing;
}

/** Schema nodes that list `properties` but still admit unknown keys (a typo there would pass). */
function openShapes(node: SchemaNode, path: string): string[] {
  const open = node.properties && node.additionalProperties !== false ? [path || "(root)"] : [];
  for (const [key, child] of Object.entries(node.properties ?? {}))
    open.push(...openShapes(child, path ? `${path}.${key}` : key));
  return open;
}

describe("values.schema.json", () => {
  test("describes every key of values.yaml, and every value it describes has its default in values.yaml", () => {
    assert.deepEqual(undescribedValues(values, schema, ""), []);
    // `global` is helm's (values shared with subcharts), admitted but not a value of this chart.
    assert.deepEqual(
      withoutDefault(schema, values, "").filter((p) => p !== "global"),
      [],
    );
  });

  test("the description check notices an undescribed key and one without a description", () => {
    const node: SchemaNode = { properties: { a: { type: "string" }, b: { description: "b" } } };
    assert.deepEqual(undescribedValues({ a: "x", b: "y", c: 1 }, node, ""), ["a (no description)", "c"]);
  });

  test("every shape with named properties is closed (additionalProperties: false)", () => {
    assert.deepEqual(openShapes(schema, ""), []);
  });

  test("the schema accepts values.yaml: helm lint --strict and helm template pass with the defaults", async () => {
    const out = await helm(["lint", CHART, "--strict", ...(await kubeVersionArgs())]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.ok((await renderChart()).length > 0);
  });

  // Each case: the values, and what the schema's message must name.
  const refused: [string, Pick<RenderOptions, "set" | "values">, RegExp][] = [
    ["a misspelt top-level value", { set: { replicaCont: "2" } }, /replicaCont/],
    ["a misspelt nested value", { set: { "crds.enabeld": "false" } }, /enabeld/],
    ["a string where a number belongs", { set: { replicaCount: "two" } }, /replicaCount/],
    ["a level outside the enum", { set: { logLevel: "verbose" } }, /logLevel/],
    ["a port below the minimum", { set: { "metrics.port": "0" } }, /port/],
    ["a refresh ratio above the maximum", { set: { refreshRatio: "0.95" } }, /refreshRatio/],
    ["a pull policy outside the enum", { set: { "image.pullPolicy": "Sometimes" } }, /pullPolicy/],
    ["a number as a label value", { values: { commonLabels: { tier: 1 } } }, /commonLabels/],
    ["podIdentity.enabled as a string", { values: { podIdentity: { enabled: "yes" } } }, /enabled/],
    ["a misspelt podIdentity value", { set: { "podIdentity.agent.namespce": "x" } }, /namespce/],
    [
      "a webhook timeout above 30 s",
      { set: { "podIdentity.webhook.timeoutSeconds": "60" } },
      /timeoutSeconds/,
    ],
    [
      "an agent address that is no IPv4 address",
      { set: { "podIdentity.agent.address": "localhost" } },
      /address/,
    ],
    ["an agent port as a string", { values: { podIdentity: { agent: { port: "80" } } } }, /port/],
    [
      "a Service cluster IP that is no IPv4 address",
      { set: { "podIdentity.service.clusterIP": "x" } },
      /clusterIP/,
    ],
    [
      "an agent maxUnavailable of zero",
      { values: { podIdentity: { agent: { updateStrategy: { maxUnavailable: 0 } } } } },
      /maxUnavailable/,
    ],
  ];

  for (const [what, options, names] of refused) {
    test(`${what} fails helm template and helm lint --strict with the schema's message`, async () => {
      for (const args of [
        ["template", "aws-assume-role", CHART, ...valueArgs(options), ...(await kubeVersionArgs())],
        ["lint", CHART, "--strict", ...valueArgs(options), ...(await kubeVersionArgs())],
      ]) {
        await assert.rejects(helm(args), (err: Error & { stdout?: string }) => {
          // helm lint reports on stdout, helm template on stderr (part of the message).
          const said = `${err.message}\n${err.stdout ?? ""}`;
          assert.match(said, /values don't meet the specifications of the schema/, said);
          assert.match(said, names, said);
          return true;
        });
      }
    });
  }

  test("helm install with a misspelt value fails before anything is created in the cluster", async () => {
    const release = `schema-${randomBytes(3).toString("hex")}`;
    await assert.rejects(
      helm(["install", release, CHART, "--namespace", "default", "--set", "leaderElection.enable=true"]),
      (err: Error) => {
        assert.match(err.message, /values don't meet the specifications of the schema/, err.message);
        assert.match(err.message, /enable/, err.message);
        return true;
      },
    );
    const releases = JSON.parse(await helm(["list", "--all", "--namespace", "default", "-o", "json"])) as {
      name: string;
    }[];
    assert.ok(!releases.some((r) => r.name === release), `release ${release} exists after a refused install`);
  });
});
