import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CONDITION_KEYS,
  CONDITION_STATUSES,
  DEFAULT_DURATION_SECONDS,
  MAX_DURATION_SECONDS,
  MIN_DURATION_SECONDS,
  SECRET_TYPES,
  SPEC_KEYS,
  STATUS_KEYS,
} from "./schema.ts";
import type { JSONSchemaProps } from "./schema-patterns.ts";
import { CONDITION_SCHEMA, RESOURCE_SCHEMA, STATUS_SCHEMA } from "./status-schema.ts";
import {
  ECR_REPOSITORY_URL_PATTERN,
  ROLE_NAME_PATTERN,
  SECRET_NAME_PATTERN,
  mustMatch,
} from "./schema-patterns.ts";
import { SPEC_SCHEMA } from "./spec-schema.ts";

const sorted = (keys: Iterable<string>) => [...keys].sort();

describe("schema and TypeScript types agree", () => {
  test("the secretType enum lists exactly SECRET_TYPES", () => {
    assert.deepEqual(SPEC_SCHEMA.properties?.secretType?.enum, [...SECRET_TYPES]);
  });

  test("the condition status enum lists exactly CONDITION_STATUSES", () => {
    assert.deepEqual(CONDITION_SCHEMA.properties?.status?.enum, [...CONDITION_STATUSES]);
  });

  const tables: [string, JSONSchemaProps, readonly string[]][] = [
    ["spec", SPEC_SCHEMA, SPEC_KEYS],
    ["status", STATUS_SCHEMA, STATUS_KEYS],
    ["condition", CONDITION_SCHEMA, CONDITION_KEYS],
  ];
  for (const [name, schema, keys] of tables) {
    test(`the ${name} schema has exactly the properties of the ${name} type`, () => {
      assert.deepEqual(sorted(Object.keys(schema.properties ?? {})), sorted(keys));
    });
    test(`every required ${name} property exists`, () => {
      for (const key of schema.required ?? []) assert.ok(keys.includes(key), key);
    });
  }

  test("spec requires secretName and secretType, and exactly one of roleName and roleArn by a rule", () => {
    assert.deepEqual(sorted(SPEC_SCHEMA.required ?? []), ["secretName", "secretType"]);
    const rules = (SPEC_SCHEMA["x-kubernetes-validations"] ?? []).map((v) => v.rule);
    assert.ok(rules.includes("has(self.roleName) != has(self.roleArn)"));
  });

  test("durationSeconds defaults and limits match the exported constants", () => {
    const d = SPEC_SCHEMA.properties?.durationSeconds;
    assert.equal(d?.default, DEFAULT_DURATION_SECONDS);
    assert.equal(d?.minimum, MIN_DURATION_SECONDS);
    assert.equal(d?.maximum, MAX_DURATION_SECONDS);
  });

  test("the resource schema embeds the spec and status schemas and requires spec", () => {
    assert.equal(RESOURCE_SCHEMA.properties?.spec, SPEC_SCHEMA);
    assert.equal(RESOURCE_SCHEMA.properties?.status, STATUS_SCHEMA);
    assert.deepEqual(RESOURCE_SCHEMA.required, ["spec"]);
  });

  test("serviceAccounts is a bounded set of names, allowed only with EcrDockerConfigJson", () => {
    const sa = SPEC_SCHEMA.properties?.serviceAccounts;
    assert.equal(sa?.["x-kubernetes-list-type"], "set");
    assert.equal(sa?.maxItems, 32);
    assert.ok(sa?.items?.["x-kubernetes-validations"]?.[0]?.rule.includes(SECRET_NAME_PATTERN));
    const rules = (SPEC_SCHEMA["x-kubernetes-validations"] ?? []).map((v) => v.rule);
    assert.ok(rules.includes("!has(self.serviceAccounts) || self.secretType == 'EcrDockerConfigJson'"));
  });

  test("conditions are a map list keyed by type", () => {
    const c = STATUS_SCHEMA.properties?.conditions;
    assert.equal(c?.["x-kubernetes-list-type"], "map");
    assert.deepEqual(c?.["x-kubernetes-list-map-keys"], ["type"]);
    assert.ok(CONDITION_SCHEMA.required?.includes("type"));
  });
});

describe("patterns", () => {
  // The API server evaluates patterns with Go's RE2: no lookaround or backreferences.
  test("no pattern uses syntax RE2 lacks", () => {
    for (const p of [ROLE_NAME_PATTERN, SECRET_NAME_PATTERN, ECR_REPOSITORY_URL_PATTERN]) {
      assert.doesNotMatch(p, /\(\?|\\[1-9]/);
    }
  });

  const cases: [string, string, string, boolean][] = [
    ["roleName", ROLE_NAME_PATTERN, "my-secrets-manager-role", true],
    ["roleName", ROLE_NAME_PATTERN, "team/app/Role_1+=,.@-", true],
    ["roleName", ROLE_NAME_PATTERN, "/team/role", false],
    ["roleName", ROLE_NAME_PATTERN, "team/role/", false],
    ["roleName", ROLE_NAME_PATTERN, "team//role", false],
    ["roleName", ROLE_NAME_PATTERN, "has space", false],
    ["roleName", ROLE_NAME_PATTERN, "x".repeat(65), false],
    ["roleName", ROLE_NAME_PATTERN, `path/${"x".repeat(64)}`, true],
    ["secretName", SECRET_NAME_PATTERN, "assume-my-role", true],
    ["secretName", SECRET_NAME_PATTERN, "a.b-c", true],
    ["secretName", SECRET_NAME_PATTERN, "Upper", false],
    ["secretName", SECRET_NAME_PATTERN, "-lead", false],
    [
      "ecrRepositoryUrl",
      ECR_REPOSITORY_URL_PATTERN,
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      true,
    ],
    [
      "ecrRepositoryUrl",
      ECR_REPOSITORY_URL_PATTERN,
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo",
      true,
    ],
    [
      "ecrRepositoryUrl",
      ECR_REPOSITORY_URL_PATTERN,
      "https://123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
      true,
    ],
    [
      "ecrRepositoryUrl",
      ECR_REPOSITORY_URL_PATTERN,
      "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
      true,
    ],
    [
      "ecrRepositoryUrl",
      ECR_REPOSITORY_URL_PATTERN,
      "https://123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
      true,
    ],
    ["ecrRepositoryUrl", ECR_REPOSITORY_URL_PATTERN, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", false],
    ["ecrRepositoryUrl", ECR_REPOSITORY_URL_PATTERN, "https://12345.dkr.ecr.eu-west-1.amazonaws.com", false],
    [
      "ecrRepositoryUrl",
      ECR_REPOSITORY_URL_PATTERN,
      "https://123456789012.dkr.ecr.eu-west-1.example.com",
      false,
    ],
    [
      "ecrRepositoryUrl",
      ECR_REPOSITORY_URL_PATTERN,
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com?x",
      false,
    ],
  ];
  for (const [field, pattern, value, ok] of cases) {
    test(`${field} ${ok ? "accepts" : "rejects"} ${JSON.stringify(value)}`, () => {
      assert.equal(new RegExp(pattern).test(value), ok);
    });
  }
});

describe("pattern rules", () => {
  const fields: [string, string][] = [
    ["roleName", ROLE_NAME_PATTERN],
    ["secretName", SECRET_NAME_PATTERN],
    ["ecrRepositoryUrl", ECR_REPOSITORY_URL_PATTERN],
  ];
  for (const [field, pattern] of fields) {
    test(`${field} is checked by a CEL rule on its pattern with a message in words`, () => {
      const property = SPEC_SCHEMA.properties?.[field];
      assert.equal(property?.pattern, undefined, "a failed pattern would be reported as the bare regex");
      assert.deepEqual(
        property?.["x-kubernetes-validations"]?.map((v) => v.rule),
        [`self.matches(r'${pattern}')`],
      );
      assert.doesNotMatch(property?.["x-kubernetes-validations"]?.[0]?.message ?? "", /\^|\$/);
    });
  }

  test("a pattern with a single quote cannot be embedded", () => {
    assert.throws(() => mustMatch("^a'b$", "m"), /cannot be embedded/);
  });
});
