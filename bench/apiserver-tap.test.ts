import { test } from "node:test";
import assert from "node:assert/strict";
import { classify, tapCounts } from "./apiserver-tap.ts";

test("requests are named by verb and resource as apiserver_request_total names them", () => {
  const cases: [string, string, string, string][] = [
    ["GET", "/api/v1/namespaces/a/secrets?labelSelector=x", "LIST", "secrets"],
    ["GET", "/api/v1/secrets?watch=true&resourceVersion=5", "WATCH", "secrets"],
    ["GET", "/api/v1/namespaces/a/secrets/s", "GET", "secrets"],
    ["PUT", "/api/v1/namespaces/a/secrets/s", "PUT", "secrets"],
    ["POST", "/api/v1/namespaces/a/events", "POST", "events"],
    [
      "PATCH",
      "/apis/pincette.net/v1/namespaces/a/awsassumeroles/r/status",
      "PATCH",
      "pincette.net/awsassumeroles/status",
    ],
    ["GET", "/apis/pincette.net/v1/awsassumeroles?watch=1", "WATCH", "pincette.net/awsassumeroles"],
    ["GET", "/api/v1/namespaces/a", "GET", "namespaces"],
    ["GET", "/version", "GET", "(non-resource /version)"],
  ];
  for (const [method, url, verb, resource] of cases) {
    assert.deepEqual(classify(method, url), { verb, resource }, `${method} ${url}`);
  }
});

test("tap counts cover a time window", () => {
  const requests = [
    { time: 1, verb: "LIST", resource: "secrets" },
    { time: 5, verb: "WATCH", resource: "secrets" },
    { time: 6, verb: "WATCH", resource: "secrets" },
    { time: 9, verb: "PUT", resource: "secrets" },
  ];
  assert.deepEqual([...tapCounts(requests, 5, 9)], [["WATCH secrets", 2]]);
});
