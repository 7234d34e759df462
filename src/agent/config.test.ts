import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AgentConfigError, parseAgentConfig } from "./config.ts";

const URL_FLAG = ["--authority-url", "https://aws-assume-role-operator-pod-identity.ops.svc:9443"];

function config(argv: string[], env: Record<string, string> = {}) {
  const parsed = parseAgentConfig(argv, env);
  assert.equal(parsed.help, false);
  return parsed.config;
}

describe("parseAgentConfig", () => {
  test("defaults to the IPv4 link-local address and the documented file paths", () => {
    const c = config(URL_FLAG);
    assert.deepEqual(c.listen, [{ host: "169.254.170.23", port: 80 }]);
    assert.equal(c.authorityCaFile, "/etc/aws-pod-identity/ca/ca.crt");
    assert.equal(c.tokenFile, "/var/run/secrets/pincette.net/agent/token");
    assert.equal(c.cacheMaxEntries, 10_000);
    assert.equal(c.authorityAddress, undefined);
    assert.equal(c.logLevel, "info");
  });
  test("reads every setting from its environment variable", () => {
    const c = config([], {
      AGENT_LISTEN: "169.254.170.23:80,[fd00:ec2::23]:80",
      AGENT_AUTHORITY_URL: "https://authority.test:9443",
      AGENT_AUTHORITY_ADDRESS: "10.96.0.40",
      AGENT_AUTHORITY_CA_FILE: "/ca.crt",
      AGENT_TOKEN_FILE: "/token",
      NODE_NAME: "node-1",
      AGENT_CACHE_MAX_ENTRIES: "50",
      LOG_LEVEL: "debug",
    });
    assert.deepEqual(c.listen, [
      { host: "169.254.170.23", port: 80 },
      { host: "fd00:ec2::23", port: 80 },
    ]);
    assert.equal(c.authorityUrl.host, "authority.test:9443");
    assert.equal(c.authorityAddress, "10.96.0.40");
    assert.deepEqual([c.authorityCaFile, c.tokenFile, c.nodeName], ["/ca.crt", "/token", "node-1"]);
    assert.equal(c.cacheMaxEntries, 50);
    assert.equal(c.logLevel, "debug");
  });
  test("a flag wins over its variable", () => {
    assert.equal(config([...URL_FLAG, "--node-name", "flag"], { NODE_NAME: "env" }).nodeName, "flag");
  });
  const refused: [string, string[], RegExp][] = [
    ["no authority URL", [], /--authority-url .* is required/],
    ["a plain-HTTP authority", ["--authority-url", "http://authority.test"], /must be https/],
    ["an authority address that is a name", [...URL_FLAG, "--authority-address", "authority"], /IP address/],
    [
      "listening on another address",
      [...URL_FLAG, "--listen", "0.0.0.0:80"],
      /not 169\.254\.170\.23 or fd00:ec2::23/,
    ],
    ["listening on a name", [...URL_FLAG, "--listen", "localhost:80"], /is not ip:port/],
    ["a cache of no entries", [...URL_FLAG, "--cache-max-entries", "0"], /whole number/],
    ["an unknown log level", [...URL_FLAG, "--log-level", "loud"], /--log-level/],
    ["an unknown flag", ["--verbose"], /see --help/],
  ];
  for (const [what, argv, message] of refused) {
    test(`refuses ${what}`, () => {
      assert.throws(
        () => parseAgentConfig(argv, {}),
        (err: unknown) => err instanceof AgentConfigError && message.test(err.message),
      );
    });
  }
  test("--help lists every flag with its variable", () => {
    const parsed = parseAgentConfig(["--help"], {});
    assert.equal(parsed.help, true);
    for (const env of [
      "AGENT_LISTEN",
      "AGENT_AUTHORITY_URL",
      "AGENT_AUTHORITY_ADDRESS",
      "AGENT_AUTHORITY_CA_FILE",
      "AGENT_TOKEN_FILE",
      "NODE_NAME",
      "AGENT_CACHE_MAX_ENTRIES",
      "LOG_LEVEL",
    ]) {
      assert.match(parsed.help ? parsed.text : "", new RegExp(env));
    }
  });
});
