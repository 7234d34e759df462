// What the Pod Identity webhook adds to a Pod of an associated ServiceAccount (docs/pod-identity.md): the two
// variables of the SDKs' container credential provider, the projected token they point at, and the annotation naming
// the association. Pure: a Pod in, RFC 6902 JSON Patch operations out.

import { POD_TOKEN_AUDIENCE } from "./pod-identity.ts";

/** The parts of a Pod (core/v1) the injection reads; a V1Pod fits. */
export interface PodShape {
  metadata?: { annotations?: Record<string, string> };
  spec?: { containers: ContainerShape[]; initContainers?: ContainerShape[]; volumes?: { name: string }[] };
}

export interface ContainerShape {
  env?: { name: string }[];
  volumeMounts?: { mountPath: string }[];
}

/** The node agent's endpoint, one of the addresses the SDKs accept over plain HTTP. */
export const POD_CREDENTIALS_URI = "http://169.254.170.23/v1/credentials";
/** Where the projected token is mounted; the file is `POD_TOKEN_PATH` inside it. */
export const POD_TOKEN_DIRECTORY = "/var/run/secrets/pincette.net/pod-identity";
export const POD_TOKEN_PATH = "token";
export const POD_TOKEN_FILE = `${POD_TOKEN_DIRECTORY}/${POD_TOKEN_PATH}`;
export const POD_TOKEN_VOLUME = "aws-pod-identity-token";
export const POD_TOKEN_EXPIRATION_SECONDS = 86400;
/** Set on every injected Pod; its value is the association's name. */
export const POD_IDENTITY_ANNOTATION = "aws-assume-role.pincette.net/pod-identity";

export const CREDENTIALS_FULL_URI_VARIABLE = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
export const AUTHORIZATION_TOKEN_FILE_VARIABLE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";

/** A container that sets any of these in `env` chose its credentials itself and is left alone. */
export const OWN_CREDENTIAL_VARIABLES: readonly string[] = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
  CREDENTIALS_FULL_URI_VARIABLE,
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  AUTHORIZATION_TOKEN_FILE_VARIABLE,
];

export interface JsonPatchOperation {
  op: "add";
  path: string;
  value: unknown;
}

/**
 * The patch that injects the endpoint into `pod`, or [] when there is nothing to do: no association, or no container
 * left to inject (each sets credentials of its own, or was injected already: a reinvoked webhook adds nothing).
 */
export function podInjectionPatch(pod: PodShape, associationName: string | undefined): JsonPatchOperation[] {
  if (associationName === undefined) return [];
  const spec = pod.spec;
  if (!spec) return [];
  const ops: JsonPatchOperation[] = [];
  for (const [field, containers] of [
    ["initContainers", spec.initContainers],
    ["containers", spec.containers],
  ] as const) {
    (containers ?? []).forEach((container, index) => {
      if (injectable(container)) ops.push(...containerOps(`/spec/${field}/${index}`, container));
    });
  }
  if (ops.length === 0) return [];
  if (!(spec.volumes ?? []).some((v) => v.name === POD_TOKEN_VOLUME)) {
    ops.push(spec.volumes ? add("/spec/volumes/-", tokenVolume()) : add("/spec/volumes", [tokenVolume()]));
  }
  const annotations = pod.metadata?.annotations;
  if (annotations?.[POD_IDENTITY_ANNOTATION] !== associationName) {
    ops.push(
      annotations
        ? add(`/metadata/annotations/${escapePointer(POD_IDENTITY_ANNOTATION)}`, associationName)
        : add("/metadata/annotations", { [POD_IDENTITY_ANNOTATION]: associationName }),
    );
  }
  return pod.metadata ? ops : [add("/metadata", {}), ...ops];
}

/**
 * True when the Pod runs without the endpoint although the webhook would have given it one, had its ServiceAccount
 * been associated when the Pod was created: no container got the variable, none sets credentials of its own, and one
 * could take it (the webhook was down or skipped). Whether the ServiceAccount is associated now is the caller's
 * question. The fix is to restart the Pod.
 */
export function injectionMissed(pod: PodShape): boolean {
  if (!pod.spec) return false;
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  if (all.some(setsOwnCredentials)) return false;
  return all.some(injectable);
}

/** RFC 6901: "~" and "/" inside a reference token. */
export function escapePointer(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

function setsOwnCredentials(container: ContainerShape): boolean {
  return (container.env ?? []).some((e) => OWN_CREDENTIAL_VARIABLES.includes(e.name));
}

/** A mount of something else at the token's directory would make the patched Pod invalid: leave such a container. */
function injectable(container: ContainerShape): boolean {
  return (
    !setsOwnCredentials(container) &&
    !(container.volumeMounts ?? []).some((m) => trimSlash(m.mountPath) === POD_TOKEN_DIRECTORY)
  );
}

function containerOps(path: string, container: ContainerShape): JsonPatchOperation[] {
  const env = [
    { name: CREDENTIALS_FULL_URI_VARIABLE, value: POD_CREDENTIALS_URI },
    { name: AUTHORIZATION_TOKEN_FILE_VARIABLE, value: POD_TOKEN_FILE },
  ];
  const mount = { name: POD_TOKEN_VOLUME, mountPath: POD_TOKEN_DIRECTORY, readOnly: true };
  return [
    ...(container.env ? env.map((e) => add(`${path}/env/-`, e)) : [add(`${path}/env`, env)]),
    container.volumeMounts ? add(`${path}/volumeMounts/-`, mount) : add(`${path}/volumeMounts`, [mount]),
  ];
}

function tokenVolume(): unknown {
  return {
    name: POD_TOKEN_VOLUME,
    projected: {
      sources: [
        {
          serviceAccountToken: {
            audience: POD_TOKEN_AUDIENCE,
            expirationSeconds: POD_TOKEN_EXPIRATION_SECONDS,
            path: POD_TOKEN_PATH,
          },
        },
      ],
    },
  };
}

function add(path: string, value: unknown): JsonPatchOperation {
  return { op: "add", path, value };
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}
