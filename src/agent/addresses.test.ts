import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  canonicalAddress,
  hostOfHeader,
  hostPermitted,
  isAddressOfThisNode,
  LINK_LOCAL_ADDRESSES,
} from "./addresses.ts";

describe("hostPermitted", () => {
  const cases: [string, string | undefined, string | undefined, boolean][] = [
    ["the IPv4 link-local address", "169.254.170.23", "169.254.170.23", true],
    ["the IPv4 link-local address with its port", "169.254.170.23:80", "169.254.170.23", true],
    ["the IPv6 link-local address in brackets", "[fd00:ec2::23]:80", "fd00:ec2::23", true],
    ["the IPv6 address spelled long and upper-case", "[FD00:0EC2:0:0:0:0:0:23]", "fd00:ec2::23", true],
    ["the IPv4 address arriving IPv4-mapped", "169.254.170.23", "::ffff:169.254.170.23", true],
    ["a DNS name that resolves to the address", "credentials.example.com", "169.254.170.23", false],
    ["localhost", "localhost:80", "169.254.170.23", false],
    ["the other link-local address than the one arrived on", "[fd00:ec2::23]", "169.254.170.23", false],
    ["the instance metadata address", "169.254.169.254", "169.254.170.23", false],
    ["an IPv6 address without brackets", "fd00:ec2::23", "fd00:ec2::23", false],
    ["no Host header", undefined, "169.254.170.23", false],
    ["an empty Host header", "", "169.254.170.23", false],
    ["a request arriving on an address that is not permitted", "10.0.0.1", "10.0.0.1", false],
  ];
  for (const [what, host, local, expected] of cases) {
    test(`${expected ? "serves" : "refuses"} ${what}`, () => {
      assert.equal(hostPermitted(host, local, LINK_LOCAL_ADDRESSES), expected);
    });
  }
  test("permits 127.0.0.1 only when the caller lists it (tests)", () => {
    assert.equal(hostPermitted("127.0.0.1:8080", "127.0.0.1", ["127.0.0.1"]), true);
    assert.equal(hostPermitted("127.0.0.1:8080", "127.0.0.1", LINK_LOCAL_ADDRESSES), false);
  });
});

describe("hostOfHeader and canonicalAddress", () => {
  test("strip port and brackets and compress IPv6", () => {
    assert.equal(hostOfHeader("169.254.170.23:80"), "169.254.170.23");
    assert.equal(hostOfHeader("[fd00:ec2:0::23]:8080"), "fd00:ec2::23");
    assert.equal(hostOfHeader("a:b:c"), undefined);
    assert.equal(canonicalAddress("::FFFF:169.254.170.23"), "169.254.170.23");
  });
});

describe("isAddressOfThisNode", () => {
  const interfaces = {
    lo: [{ address: "127.0.0.1" }, { address: "::1" }],
    "pod-identity": [{ address: "169.254.170.23" }],
  };
  test("finds an address held by an interface", () => {
    assert.equal(isAddressOfThisNode("169.254.170.23", interfaces), true);
  });
  test("does not find one no interface holds", () => {
    assert.equal(isAddressOfThisNode("fd00:ec2::23", interfaces), false);
  });
});
