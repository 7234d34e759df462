import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  POD_IDENTITY_ANNOTATION,
  POD_TOKEN_DIRECTORY,
  POD_TOKEN_VOLUME,
  escapePointer,
  injectionMissed,
  podInjectionPatch,
} from "./pod-injection.ts";
import { POD_TOKEN_AUDIENCE } from "./pod-identity.ts";
import type { JsonPatchOperation, PodShape } from "./pod-injection.ts";

const ENV = [
  { name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", value: "http://169.254.170.23/v1/credentials" },
  {
    name: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    value: "/var/run/secrets/pincette.net/pod-identity/token",
  },
];
const MOUNT = { name: POD_TOKEN_VOLUME, mountPath: POD_TOKEN_DIRECTORY, readOnly: true };
const VOLUME = {
  name: "aws-pod-identity-token",
  projected: {
    sources: [
      {
        serviceAccountToken: {
          audience: "aws-assume-role.pincette.net/pod",
          expirationSeconds: 86400,
          path: "token",
        },
      },
    ],
  },
};
const ANNOTATION_PATH = "/metadata/annotations/aws-assume-role.pincette.net~1pod-identity";

/** Applies "add" operations as RFC 6902 says, enough to check the patched Pod. */
function applyPatch<T>(doc: T, ops: JsonPatchOperation[]): T {
  const copy = structuredClone(doc) as Record<string, unknown>;
  for (const { path, value } of ops) {
    const tokens = path
      .split("/")
      .slice(1)
      .map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = tokens.pop()!;
    let target: unknown = copy;
    for (const t of tokens) target = (target as Record<string, unknown>)[t];
    assert.ok(target !== undefined && target !== null, `parent of ${path} exists`);
    if (Array.isArray(target)) {
      if (last === "-") target.push(value);
      else target.splice(Number(last), 0, value);
    } else (target as Record<string, unknown>)[last] = value;
  }
  return copy as T;
}

describe("podInjectionPatch", () => {
  const cases: {
    name: string;
    pod: PodShape;
    association: string | undefined;
    want: JsonPatchOperation[];
  }[] = [
    {
      name: "no association: nothing",
      pod: { metadata: {}, spec: { containers: [{}] } },
      association: undefined,
      want: [],
    },
    {
      name: "a bare Pod gets env, mount, volume and annotations created",
      pod: { metadata: {}, spec: { containers: [{}] } },
      association: "reader",
      want: [
        { op: "add", path: "/spec/containers/0/env", value: ENV },
        { op: "add", path: "/spec/containers/0/volumeMounts", value: [MOUNT] },
        { op: "add", path: "/spec/volumes", value: [VOLUME] },
        { op: "add", path: "/metadata/annotations", value: { [POD_IDENTITY_ANNOTATION]: "reader" } },
      ],
    },
    {
      name: "existing lists and annotations are appended to",
      pod: {
        metadata: { annotations: { other: "x" } },
        spec: {
          containers: [{ env: [{ name: "A" }], volumeMounts: [{ mountPath: "/data" }] }],
          volumes: [{ name: "data" }],
        },
      },
      association: "reader",
      want: [
        { op: "add", path: "/spec/containers/0/env/-", value: ENV[0] },
        { op: "add", path: "/spec/containers/0/env/-", value: ENV[1] },
        { op: "add", path: "/spec/containers/0/volumeMounts/-", value: MOUNT },
        { op: "add", path: "/spec/volumes/-", value: VOLUME },
        { op: "add", path: ANNOTATION_PATH, value: "reader" },
      ],
    },
    {
      name: "init containers and containers, skipping one with its own AWS_ACCESS_KEY_ID",
      pod: {
        metadata: {},
        spec: {
          initContainers: [{}],
          containers: [{ env: [{ name: "AWS_ACCESS_KEY_ID" }] }, {}],
        },
      },
      association: "reader",
      want: [
        { op: "add", path: "/spec/initContainers/0/env", value: ENV },
        { op: "add", path: "/spec/initContainers/0/volumeMounts", value: [MOUNT] },
        { op: "add", path: "/spec/containers/1/env", value: ENV },
        { op: "add", path: "/spec/containers/1/volumeMounts", value: [MOUNT] },
        { op: "add", path: "/spec/volumes", value: [VOLUME] },
        { op: "add", path: "/metadata/annotations", value: { [POD_IDENTITY_ANNOTATION]: "reader" } },
      ],
    },
    ...[
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "AWS_PROFILE",
      "AWS_SHARED_CREDENTIALS_FILE",
      "AWS_WEB_IDENTITY_TOKEN_FILE",
      "AWS_ROLE_ARN",
      "AWS_CONTAINER_CREDENTIALS_FULL_URI",
      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ].map((name) => ({
      name: `a container setting ${name} is left alone`,
      pod: { metadata: {}, spec: { containers: [{ env: [{ name }] }] } },
      association: "reader",
      want: [],
    })),
    {
      name: "a container with something else mounted at the token's directory is left alone",
      pod: {
        metadata: {},
        spec: { containers: [{ volumeMounts: [{ mountPath: `${POD_TOKEN_DIRECTORY}/` }] }] },
      },
      association: "reader",
      want: [],
    },
    {
      name: "a volume of that name already there is not added twice",
      pod: { metadata: {}, spec: { containers: [{}], volumes: [{ name: POD_TOKEN_VOLUME }] } },
      association: "reader",
      want: [
        { op: "add", path: "/spec/containers/0/env", value: ENV },
        { op: "add", path: "/spec/containers/0/volumeMounts", value: [MOUNT] },
        { op: "add", path: "/metadata/annotations", value: { [POD_IDENTITY_ANNOTATION]: "reader" } },
      ],
    },
    {
      name: "a Pod without metadata gets it",
      pod: { spec: { containers: [{}] } },
      association: "r",
      want: [
        { op: "add", path: "/metadata", value: {} },
        { op: "add", path: "/spec/containers/0/env", value: ENV },
        { op: "add", path: "/spec/containers/0/volumeMounts", value: [MOUNT] },
        { op: "add", path: "/spec/volumes", value: [VOLUME] },
        { op: "add", path: "/metadata/annotations", value: { [POD_IDENTITY_ANNOTATION]: "r" } },
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(podInjectionPatch(c.pod, c.association), c.want);
    });
  }

  test("an injected Pod gets nothing more when the webhook is invoked again", () => {
    const pod: PodShape = {
      metadata: { annotations: { a: "b" } },
      spec: {
        initContainers: [{}],
        containers: [{ env: [{ name: "X" }] }, { volumeMounts: [{ mountPath: "/d" }] }],
      },
    };
    const once = applyPatch(pod, podInjectionPatch(pod, "reader"));
    assert.equal(once.spec!.volumes!.length, 1);
    assert.equal(once.metadata!.annotations![POD_IDENTITY_ANNOTATION], "reader");
    assert.equal(once.metadata!.annotations!.a, "b");
    for (const c of [...once.spec!.initContainers!, ...once.spec!.containers]) {
      assert.ok(c.env!.some((e) => e.name === "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
      assert.ok(c.volumeMounts!.some((m) => m.mountPath === POD_TOKEN_DIRECTORY));
    }
    assert.deepEqual(podInjectionPatch(once, "reader"), []);
    assert.equal(injectionMissed(once), false);
  });

  test("the projected token has the Pod audience", () => {
    const ops = podInjectionPatch({ spec: { containers: [{}] } }, "r");
    assert.match(JSON.stringify(ops), new RegExp(POD_TOKEN_AUDIENCE.replaceAll(".", "\\.")));
  });
});

describe("injectionMissed", () => {
  const cases: { name: string; pod: PodShape; want: boolean }[] = [
    { name: "no spec", pod: {}, want: false },
    {
      name: "nothing injected, nothing of its own",
      pod: { spec: { containers: [{}] } },
      want: true,
    },
    {
      name: "a container sets its own credentials",
      pod: { spec: { containers: [{}, { env: [{ name: "AWS_PROFILE" }] }] } },
      want: false,
    },
    {
      name: "injected",
      pod: { spec: { containers: [{ env: [{ name: "AWS_CONTAINER_CREDENTIALS_FULL_URI" }] }] } },
      want: false,
    },
    {
      name: "no container could take it",
      pod: { spec: { containers: [{ volumeMounts: [{ mountPath: POD_TOKEN_DIRECTORY }] }] } },
      want: false,
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(injectionMissed(c.pod), c.want));
  }
});

test("escapePointer escapes ~ before /", () => {
  assert.equal(escapePointer("a~/b"), "a~0~1b");
  assert.equal(escapePointer("x.y/z"), "x.y~1z");
});
