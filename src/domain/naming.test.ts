// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  InvalidArnError,
  InvalidEcrRegistryUrlError,
  parseCallerArn,
  parseEcrRegistryUrl,
  clusterRoleSessionName,
  podIdentitySessionName,
  roleArnFor,
  roleSessionName,
} from "./naming.ts";

describe("parseCallerArn", () => {
  const ok: [string, { partition: string; account: string; assumedRole: boolean }][] = [
    [
      "arn:aws:sts::123456789012:assumed-role/operator/session-1",
      { partition: "aws", account: "123456789012", assumedRole: true },
    ],
    [
      "arn:aws-cn:iam::210987654321:user/x",
      { partition: "aws-cn", account: "210987654321", assumedRole: false },
    ],
    [
      "arn:aws-us-gov:sts::111122223333:assumed-role/R/S",
      { partition: "aws-us-gov", account: "111122223333", assumedRole: true },
    ],
    ["arn:aws:iam::123456789012:root", { partition: "aws", account: "123456789012", assumedRole: false }],
    [
      "arn:aws:sts::123456789012:federated-user/bob",
      { partition: "aws", account: "123456789012", assumedRole: false },
    ],
  ];
  for (const [arn, expected] of ok) {
    test(`reads ${arn}`, () => assert.deepEqual(parseCallerArn(arn), expected));
  }

  const bad: [string, RegExp][] = [
    ["", /not an ARN/],
    ["not-an-arn", /not an ARN/],
    ["arn:aws:sts::123:assumed-role/R/S", /12-digit account/],
    ["arn:gcp:sts::123456789012:assumed-role/R/S", /unknown partition/],
    ["arn:aws:s3:::bucket", /not an IAM or STS identity/],
    ["arn:aws:iam::123456789012:", /no resource/],
  ];
  for (const [arn, message] of bad) {
    test(`rejects ${JSON.stringify(arn)} with InvalidArnError`, () => {
      assert.throws(
        () => parseCallerArn(arn),
        (e: unknown) => e instanceof InvalidArnError && message.test(e.message),
      );
    });
  }
});

describe("roleArnFor", () => {
  test("builds an IAM role ARN in the caller's partition and account", () => {
    assert.equal(
      roleArnFor({ partition: "aws-cn", account: "123456789012" }, "my-role"),
      "arn:aws-cn:iam::123456789012:role/my-role",
    );
  });

  test("keeps a role path as part of the resource", () => {
    assert.equal(
      roleArnFor({ partition: "aws", account: "123456789012" }, "team/app/my-role"),
      "arn:aws:iam::123456789012:role/team/app/my-role",
    );
  });
});

describe("roleSessionName", () => {
  const VALID = /^[\w+=,.@-]{2,64}$/;

  test("is aar.<namespace>.<name> when that fits", () => {
    assert.equal(roleSessionName("default", "aws-assume-my-role"), "aar.default.aws-assume-my-role");
  });

  test("is deterministic", () => {
    assert.equal(roleSessionName("ns", "x".repeat(200)), roleSessionName("ns", "x".repeat(200)));
  });

  test("truncates long names to 64 characters with a hash suffix, keeping the readable prefix", () => {
    const name = roleSessionName("team-namespace", "a".repeat(253));
    assert.equal(name.length, 64);
    assert.match(name, VALID);
    assert.match(name, /^aar\.team-namespace\.a+-[0-9a-f]{8}$/);
  });

  test("gives different long names that share a prefix different session names", () => {
    const prefix = "p".repeat(100);
    const names = new Set(Array.from({ length: 500 }, (_, i) => roleSessionName("ns", `${prefix}-${i}`)));
    assert.equal(names.size, 500);
  });

  test("does not let namespace and name trade characters into the same session name", () => {
    const long = "n".repeat(60);
    assert.notEqual(roleSessionName(`${long}a`, `b${long}`), roleSessionName(long, `ab${long}`));
  });

  test("replaces characters STS does not allow and adds a hash so the result stays unique", () => {
    const name = roleSessionName("ns", "a:b");
    assert.match(name, VALID);
    assert.notEqual(name, roleSessionName("ns", "a-b"));
  });

  test("a name of exactly 64 characters is kept whole", () => {
    const name = `aar.ns.${"x".repeat(57)}`;
    assert.equal(roleSessionName("ns", "x".repeat(57)), name);
  });
});

describe("parseEcrRegistryUrl", () => {
  const ok: [string, ReturnType<typeof parseEcrRegistryUrl>][] = [
    [
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo",
      {
        account: "123456789012",
        region: "eu-west-1",
        fips: false,
        host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        partition: "aws",
      },
    ],
    [
      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      {
        account: "123456789012",
        region: "eu-west-1",
        fips: false,
        host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        partition: "aws",
      },
    ],
    [
      "https://123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/",
      {
        account: "123456789012",
        region: "us-east-1",
        fips: true,
        host: "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
        partition: "aws",
      },
    ],
    [
      "https://123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/team/repo",
      {
        account: "123456789012",
        region: "cn-northwest-1",
        fips: false,
        host: "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn",
        partition: "aws-cn",
      },
    ],
    [
      "https://123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
      {
        account: "123456789012",
        region: "us-gov-west-1",
        fips: false,
        host: "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
        partition: "aws-us-gov",
      },
    ],
  ];
  for (const [url, expected] of ok) {
    test(`reads ${url}`, () => assert.deepEqual(parseEcrRegistryUrl(url), expected));
  }

  const bad: [string, RegExp][] = [
    ["123456789012.dkr.ecr.eu-west-1.amazonaws.com", /must start with https:\/\//],
    ["http://123456789012.dkr.ecr.eu-west-1.amazonaws.com", /must start with https:\/\//],
    ["https://123456789012.dkr.ecr.eu-west-1.example.com", /registry host of the form/],
    ["https://registry.example.com/v2/x", /registry host of the form/],
    ["https://123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.io", /extra labels/],
    ["https://1234.dkr.ecr.eu-west-1.amazonaws.com", /12-digit AWS account id/],
    ["https://123456789012.dkr.ecr.mars.amazonaws.com", /not an AWS region/],
    ["https://123456789012.dkr.ecr.eu-west-1.amazonaws.com.cn", /outside China/],
    ["https://123456789012.dkr.ecr.cn-north-1.amazonaws.com", /China region without amazonaws\.com\.cn/],
    ["https://123456789012.dkr.ecr.eu-west-1.amazonaws.com:443/x", /registry host of the form/],
    ["https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/x?y=1", /path/],
    ["https://123456789012.dkr.ecr.eu-west-1.amazonaws.com//x", /path/],
  ];
  for (const [url, message] of bad) {
    test(`rejects ${url} saying what is wrong`, () => {
      assert.throws(
        () => parseEcrRegistryUrl(url),
        (e: unknown) => e instanceof InvalidEcrRegistryUrlError && message.test(e.message),
      );
    });
  }
});

describe("clusterRoleSessionName", () => {
  test("is caar.<name> when that fits, so CloudTrail shows the cluster-scoped resource", () => {
    assert.equal(clusterRoleSessionName("ecr-pull"), "caar.ecr-pull");
  });

  test("is shortened with a hash past 64 characters, distinct for distinct names", () => {
    const a = clusterRoleSessionName(`${"c".repeat(100)}-a`);
    const b = clusterRoleSessionName(`${"c".repeat(100)}-b`);
    assert.equal(a.length, 64);
    assert.match(a, /^caar\.c+-[0-9a-f]{8}$/);
    assert.notEqual(a, b);
  });

  test("never equals a namespaced resource's session name", () => {
    assert.notEqual(clusterRoleSessionName("x"), roleSessionName("caar", "x"));
  });
});

describe("podIdentitySessionName", () => {
  test("is aarpi.<namespace>.<name>, so CloudTrail tells an association from an AWSAssumeRole of the same name", () => {
    assert.equal(podIdentitySessionName("team-a", "reader"), "aarpi.team-a.reader");
    assert.notEqual(podIdentitySessionName("team-a", "reader"), roleSessionName("team-a", "reader"));
  });

  test("is shortened with a hash past 64 characters, distinct for distinct associations", () => {
    const a = podIdentitySessionName("ns", `${"p".repeat(100)}-a`);
    const b = podIdentitySessionName("ns", `${"p".repeat(100)}-b`);
    assert.equal(a.length, 64);
    assert.notEqual(a, b);
  });
});
