import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseBindAddress } from "./bind-address.ts";

describe("parseBindAddress", () => {
  const cases: [string, { host: string | undefined; port: number } | undefined][] = [
    [":8080", { host: undefined, port: 8080 }],
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
    ["0.0.0.0:9090", { host: "0.0.0.0", port: 9090 }],
    ["localhost:65535", { host: "localhost", port: 65535 }],
    ["[::1]:8081", { host: "::1", port: 8081 }],
    ["[::]:8080", { host: "::", port: 8080 }],
    ["0", undefined],
    ["", undefined],
    ["8080", undefined],
    ["localhost", undefined],
    ["localhost:", undefined],
    [":65536", undefined],
    [":123456", undefined],
    [":http", undefined],
    [":-1", undefined],
  ];
  for (const [address, expected] of cases) {
    test(`${JSON.stringify(address)} → ${expected ? `${expected.host ?? "(all interfaces)"} port ${expected.port}` : "no address"}`, () => {
      assert.deepEqual(parseBindAddress(address), expected);
    });
  }
});
