// Builds the CustomResourceDefinitions (AWSAssumeRole, ClusterAWSAssumeRole) from schema.ts and
// cluster-schema.ts; the chart's copies are generated from them by `npm run crd`, so each schema has one source.
import { stringify } from "yaml";
import {
  CLUSTER_KIND,
  CLUSTER_PLURAL,
  CLUSTER_RESOURCE_SCHEMA,
  CLUSTER_SHORT_NAME,
  CLUSTER_SINGULAR,
} from "./cluster-schema.ts";
import {
  POD_IDENTITY_KIND,
  POD_IDENTITY_PLURAL,
  POD_IDENTITY_RESOURCE_SCHEMA,
  POD_IDENTITY_SHORT_NAME,
  POD_IDENTITY_SINGULAR,
} from "./pod-identity-schema.ts";
import { API_VERSION, GROUP, KIND, PLURAL, SHORT_NAME, SINGULAR, VERSION } from "./schema.ts";
import { RESOURCE_SCHEMA } from "./status-schema.ts";
import type { JSONSchemaProps } from "./schema-patterns.ts";

/** `kubectl get aws` lists both kinds. */
export const CATEGORY = "aws";

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
}

/** What differs between the two CRDs. */
export interface CrdDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortName: string;
  scope: "Namespaced" | "Cluster";
  schema: JSONSchemaProps;
  printerColumns: PrinterColumn[];
  /** The source file named in the generated header. */
  source: string;
}

const READY = '.status.conditions[?(@.type=="Ready")]';

const ROLE = {
  name: "Role",
  type: "string",
  jsonPath: ".spec.roleName",
  description: "IAM role that is assumed",
};
const SECRET = {
  name: "Secret",
  type: "string",
  jsonPath: ".spec.secretName",
  description: "Secret that is kept filled",
};
const TYPE = {
  name: "Type",
  type: "string",
  jsonPath: ".spec.secretType",
  description: "Layout of the Secret",
};
const READY_STATUS = {
  name: "Ready",
  type: "string",
  jsonPath: `${READY}.status`,
  description: "Whether the Secret is usable",
};
const REASON = {
  name: "Reason",
  type: "string",
  jsonPath: `${READY}.reason`,
  description: "Why it is (not) ready",
};
// A "date" column prints the age of a timestamp and shows "<invalid>" for any time in the future, which an
// expiry always is while things work; printing the timestamp itself is the useful choice.
const EXPIRES = {
  name: "Expires",
  type: "string",
  jsonPath: ".status.expirationTime",
  description: "When the current credentials expire",
};
const AGE = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export const PRINTER_COLUMNS: PrinterColumn[] = [ROLE, SECRET, TYPE, READY_STATUS, REASON, EXPIRES, AGE];

export const CLUSTER_PRINTER_COLUMNS: PrinterColumn[] = [
  ROLE,
  SECRET,
  TYPE,
  {
    name: "Selected",
    type: "integer",
    jsonPath: ".status.namespaces.selected",
    description: "Namespaces that match namespaceSelector",
  },
  {
    name: "Served",
    type: "integer",
    jsonPath: ".status.namespaces.ready",
    description: "Selected namespaces whose Secret holds the current credentials",
  },
  READY_STATUS,
  REASON,
  EXPIRES,
  AGE,
];

export const NAMESPACED_CRD: CrdDefinition = {
  kind: KIND,
  plural: PLURAL,
  singular: SINGULAR,
  shortName: SHORT_NAME,
  scope: "Namespaced",
  schema: RESOURCE_SCHEMA,
  printerColumns: PRINTER_COLUMNS,
  source: "src/api/schema.ts",
};

export const CLUSTER_CRD: CrdDefinition = {
  kind: CLUSTER_KIND,
  plural: CLUSTER_PLURAL,
  singular: CLUSTER_SINGULAR,
  shortName: CLUSTER_SHORT_NAME,
  scope: "Cluster",
  schema: CLUSTER_RESOURCE_SCHEMA,
  printerColumns: CLUSTER_PRINTER_COLUMNS,
  source: "src/api/cluster-schema.ts",
};

export const POD_IDENTITY_PRINTER_COLUMNS: PrinterColumn[] = [
  {
    name: "ServiceAccount",
    type: "string",
    jsonPath: ".spec.serviceAccount",
    description: "ServiceAccount whose Pods get the role",
  },
  ROLE,
  {
    name: "Injected",
    type: "integer",
    jsonPath: ".status.pods.injected",
    description: "Pods that get credentials from the node endpoint",
  },
  {
    name: "Missed",
    type: "integer",
    jsonPath: ".status.pods.missed",
    description: "Pods created without the endpoint's variables (restart them)",
  },
  READY_STATUS,
  REASON,
  AGE,
];

export const POD_IDENTITY_CRD: CrdDefinition = {
  kind: POD_IDENTITY_KIND,
  plural: POD_IDENTITY_PLURAL,
  singular: POD_IDENTITY_SINGULAR,
  shortName: POD_IDENTITY_SHORT_NAME,
  scope: "Namespaced",
  schema: POD_IDENTITY_RESOURCE_SCHEMA,
  printerColumns: POD_IDENTITY_PRINTER_COLUMNS,
  source: "src/api/pod-identity-schema.ts",
};

export const CRDS = [NAMESPACED_CRD, CLUSTER_CRD, POD_IDENTITY_CRD];

export const crdName = (def: CrdDefinition): string => `${def.plural}.${GROUP}`;
/**
 * The chart installs and upgrades the CRDs as templates (`crds.enabled`, `crds.keep`), not from a `crds/` folder,
 * which helm installs once and never upgrades.
 */
export const crdFile = (def: CrdDefinition): string =>
  `charts/aws-assume-role/templates/crds/${crdName(def)}.yaml`;

export const CRD_NAME = crdName(NAMESPACED_CRD);
export const CRD_FILE = crdFile(NAMESPACED_CRD);
export const CLUSTER_CRD_NAME = crdName(CLUSTER_CRD);
export const CLUSTER_CRD_FILE = crdFile(CLUSTER_CRD);
export const POD_IDENTITY_CRD_NAME = crdName(POD_IDENTITY_CRD);

/** The full apiextensions.k8s.io/v1 CustomResourceDefinition (AWSAssumeRole unless told otherwise). */
export function buildCrd(def: CrdDefinition = NAMESPACED_CRD): object {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: crdName(def),
      labels: { "app.kubernetes.io/part-of": "aws-assume-role-operator" },
    },
    spec: {
      group: GROUP,
      scope: def.scope,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [def.shortName],
        categories: [CATEGORY],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: def.schema },
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
        },
      ],
    },
  };
}

const generatedBy = (def: CrdDefinition) =>
  `Generated by \`npm run crd\` from ${def.source} (${API_VERSION} ${def.kind}); do not edit.`;

/** The plain CRD as YAML text, for `kubectl apply` (tests, the demo, installs without helm). */
export function renderCrdYaml(def: CrdDefinition = NAMESPACED_CRD): string {
  // lineWidth 0 keeps long descriptions on one line, so the output does not depend on folding rules.
  return `# ${generatedBy(def)}\n` + stringify(buildCrd(def), { lineWidth: 0 });
}

/** Every plain CRD as one multi-document YAML stream (`npm run --silent crd -- --plain | kubectl apply -f -`). */
export const renderPlainCrds = (): string => CRDS.map((def) => renderCrdYaml(def)).join("---\n");

/**
 * The CRD as the chart's template, exactly as committed under charts/: rendered only with `crds.enabled`, with the
 * chart's labels (helm adopts nothing without them) and, with `crds.keep`, `helm.sh/resource-policy: keep`, so an
 * uninstall never deletes the CRD and with it every resource of its kind. The spec is the plain CRD's, verbatim.
 */
export function renderCrdTemplate(def: CrdDefinition = NAMESPACED_CRD): string {
  const { apiVersion, kind, spec } = buildCrd(def) as { apiVersion: string; kind: string; spec: object };
  const body = stringify({ spec }, { lineWidth: 0 });
  // A description holding template delimiters would be evaluated by helm instead of shown.
  if (body.includes("{{") || body.includes("}}"))
    throw new Error(`${def.kind}: schema text contains "{{" or "}}"`);
  return [
    `{{- /* ${generatedBy(def)} */ -}}`,
    "{{- if .Values.crds.enabled }}",
    `apiVersion: ${apiVersion}`,
    `kind: ${kind}`,
    "metadata:",
    `  name: ${crdName(def)}`,
    "  labels:",
    '    {{- include "aws-assume-role.labels" . | nindent 4 }}',
    "  {{- if .Values.crds.keep }}",
    "  annotations:",
    "    helm.sh/resource-policy: keep",
    "  {{- end }}",
    body.trimEnd(),
    "{{- end }}",
    "",
  ].join("\n");
}
