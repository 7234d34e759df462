import { test } from "node:test";
import assert from "node:assert/strict";
import {
  detectRequest,
  extractEcrToken,
  extractStsCredentials,
  jsonErrorResponse,
  parseCredentialScope,
  queryErrorResponse,
  responseKind,
  rewriteCredentialResponse,
  rewriteEcrExpiresAt,
  rewriteStsExpiration,
  shouldBufferRequestBody,
  throttleError,
  unavailableError,
  registryPassword,
  signEcrTokens,
} from "./protocol.ts";

const AUTH_STS =
  "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261128/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
const AUTH_ECR =
  "AWS4-HMAC-SHA256 Credential=ASIAXYZ/20261128/eu-west-1/ecr/aws4_request, SignedHeaders=host, Signature=abc";

const STS_RESPONSE = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>secret/with+chars</SecretAccessKey>
      <SessionToken>tok&amp;en==</SessionToken>
      <Expiration>2026-11-28T07:04:48.304888Z</Expiration>
    </Credentials>
    <AssumedRoleUser><AssumedRoleId>AROA:sess</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/r/sess</Arn></AssumedRoleUser>
  </AssumeRoleResult>
</AssumeRoleResponse>`;

const ECR_RESPONSE = JSON.stringify({
  authorizationData: [
    {
      authorizationToken: "QVdTOnBhc3M=",
      expiresAt: 1420070400,
      proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    },
  ],
});

const NOW = Date.parse("2026-11-28T06:00:00.000Z");

test("parseCredentialScope reads the SigV4 scope", () => {
  assert.deepEqual(parseCredentialScope(AUTH_STS), {
    accessKeyId: "AKIDTEST",
    date: "20261128",
    region: "us-east-1",
    service: "sts",
  });
  assert.equal(parseCredentialScope("Bearer xyz"), undefined);
  assert.equal(parseCredentialScope(undefined), undefined);
  assert.equal(parseCredentialScope("AKID/20261128/us-west-2/sts/aws4_request")?.region, "us-west-2");
});

test("detectRequest: STS query protocol in a form body", () => {
  const body =
    "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s1&DurationSeconds=900&Tags.member.1.Key=team&Tags.member.1.Value=a+b";
  const headers = {
    authorization: AUTH_STS,
    "content-type": "application/x-www-form-urlencoded; charset=utf-8",
  };
  assert.equal(shouldBufferRequestBody(headers), true);
  const info = detectRequest({ method: "POST", url: "/", headers, body });
  assert.equal(info.protocol, "query");
  assert.equal(info.service, "sts");
  assert.equal(info.region, "us-east-1");
  assert.equal(info.action, "AssumeRole");
  assert.equal(info.accessKeyId, "AKIDTEST");
  assert.deepEqual(info.params, {
    Action: "AssumeRole",
    Version: "2011-06-15",
    RoleArn: "arn:aws:iam::123456789012:role/r",
    RoleSessionName: "s1",
    DurationSeconds: "900",
    "Tags.member.1.Key": "team",
    "Tags.member.1.Value": "a b",
  });
});

test("detectRequest: STS query protocol in the query string, without signature", () => {
  const info = detectRequest({
    method: "GET",
    url: "/?Action=GetCallerIdentity&Version=2011-06-15",
    headers: {},
    body: "",
  });
  assert.equal(info.protocol, "query");
  assert.equal(info.service, "sts");
  assert.equal(info.region, "us-east-1");
  assert.equal(info.action, "GetCallerIdentity");
  assert.equal(info.accessKeyId, undefined);
});

test("detectRequest: ECR JSON protocol", () => {
  const headers = {
    authorization: AUTH_ECR,
    "content-type": "application/x-amz-json-1.1",
    "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
  };
  const info = detectRequest({ method: "POST", url: "/", headers, body: '{"registryIds":["123456789012"]}' });
  assert.equal(info.protocol, "json");
  assert.equal(info.service, "ecr");
  assert.equal(info.region, "eu-west-1");
  assert.equal(info.action, "GetAuthorizationToken");
  assert.equal(info.accessKeyId, "ASIAXYZ");
  assert.deepEqual(info.params, { registryIds: ["123456789012"] });

  const unsigned = detectRequest({
    method: "POST",
    url: "/",
    headers: { "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" },
    body: "{}",
  });
  assert.equal(unsigned.service, "ecr");
  assert.deepEqual(unsigned.params, {});
});

test("detectRequest: anything else", () => {
  const info = detectRequest({ method: "GET", url: "/moto-api/", headers: {}, body: "" });
  assert.equal(info.protocol, "unknown");
  assert.equal(info.service, "unknown");
  assert.equal(info.action, "");
  assert.equal(shouldBufferRequestBody({ "content-type": "application/octet-stream" }), false);
});

test("query error response has the STS wire format", () => {
  const r = queryErrorResponse("sts", {
    status: 400,
    code: "Throttling",
    message: "Rate exceeded",
    requestId: "rid-1",
  });
  assert.equal(r.status, 400);
  assert.equal(r.headers["content-type"], "text/xml");
  assert.equal(r.headers["x-amzn-requestid"], "rid-1");
  assert.match(
    r.body.replace(/\s+/g, ""),
    /^<ErrorResponsexmlns="https:\/\/sts.amazonaws.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type><Code>Throttling<\/Code><Message>Rateexceeded<\/Message><\/Error><RequestId>rid-1<\/RequestId><\/ErrorResponse>$/,
  );
  assert.equal(r.headers["content-length"], String(Buffer.byteLength(r.body)));
  const u = unavailableError({ protocol: "query", service: "sts" }, "rid-2");
  assert.equal(u.status, 503);
  assert.match(u.body, /<Type>Receiver<\/Type>/);
  assert.match(u.body, /<Code>ServiceUnavailable<\/Code>/);
  const esc = queryErrorResponse("sts", {
    status: 400,
    code: "ValidationError",
    message: "a<b & c",
    requestId: "x",
  });
  assert.match(esc.body, /<Message>a&lt;b &amp; c<\/Message>/);
});

test("JSON error response has the ECR wire format", () => {
  const r = throttleError({ protocol: "json", service: "ecr" }, "rid-3");
  assert.equal(r.status, 400);
  assert.equal(r.headers["x-amzn-errortype"], "ThrottlingException");
  assert.equal(r.headers["content-type"], "application/x-amz-json-1.1");
  assert.deepEqual(JSON.parse(r.body), { __type: "ThrottlingException", message: "Rate exceeded" });
  const u = unavailableError({ protocol: "json", service: "ecr" }, "rid-4");
  assert.equal(u.status, 503);
  assert.equal(JSON.parse(u.body).__type, "ServiceUnavailableException");
  const e = jsonErrorResponse({
    status: 400,
    code: "InvalidParameterException",
    message: "m",
    requestId: "r",
  });
  assert.equal(e.headers["x-amzn-errortype"], "InvalidParameterException");
  const t = throttleError({ protocol: "query", service: "sts" }, "r");
  assert.match(t.body, /<Code>Throttling<\/Code>/);
});

test("STS credentials: extract and rewrite Expiration", () => {
  assert.deepEqual(extractStsCredentials(STS_RESPONSE), {
    accessKeyId: "ASIAEXAMPLE",
    secretAccessKey: "secret/with+chars",
    sessionToken: "tok&en==",
    expiration: "2026-11-28T07:04:48.304888Z",
  });
  const rewritten = rewriteStsExpiration(STS_RESPONSE, NOW, 60);
  assert.match(rewritten, /<Expiration>2026-11-28T06:01:00Z<\/Expiration>/);
  assert.equal(extractStsCredentials(rewritten)?.expiration, "2026-11-28T06:01:00Z");
  assert.equal(extractStsCredentials("<GetCallerIdentityResponse/>"), undefined);
});

test("ECR token: extract and rewrite expiresAt", () => {
  assert.deepEqual(extractEcrToken(ECR_RESPONSE), {
    authorizationToken: "QVdTOnBhc3M=",
    expiresAt: "2015-01-01T00:00:00.000Z",
  });
  const rewritten = rewriteEcrExpiresAt(ECR_RESPONSE, NOW, 30);
  const doc = JSON.parse(rewritten);
  assert.equal(doc.authorizationData[0].expiresAt, NOW / 1000 + 30);
  assert.equal(
    doc.authorizationData[0].proxyEndpoint,
    "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
  );
  assert.equal(rewriteEcrExpiresAt("not json", NOW, 30), "not json");
  assert.equal(extractEcrToken("{}"), undefined);
});

test("rewriteCredentialResponse applies the lifetime and the ECR 12 h default", () => {
  assert.equal(responseKind({ service: "sts", action: "AssumeRole" }), "sts-credentials");
  assert.equal(responseKind({ service: "sts", action: "AssumeRoleWithWebIdentity" }), "sts-credentials");
  assert.equal(responseKind({ service: "sts", action: "GetCallerIdentity" }), "none");
  assert.equal(responseKind({ service: "ecr", action: "GetAuthorizationToken" }), "ecr-token");

  const passthrough = rewriteCredentialResponse("sts-credentials", STS_RESPONSE, NOW, {});
  assert.equal(passthrough.body, STS_RESPONSE);
  assert.equal(passthrough.issued?.accessKeyId, "ASIAEXAMPLE");

  const short = rewriteCredentialResponse("sts-credentials", STS_RESPONSE, NOW, { stsSeconds: 20 });
  assert.equal(short.issued?.expiration, "2026-11-28T06:00:20Z");

  const ecrDefault = rewriteCredentialResponse("ecr-token", ECR_RESPONSE, NOW, {});
  assert.equal(ecrDefault.issued?.expiresAt, "2026-11-28T18:00:00.000Z");
  const ecrShort = rewriteCredentialResponse("ecr-token", ECR_RESPONSE, NOW, { ecrSeconds: 45 });
  assert.equal(ecrShort.issued?.expiresAt, "2026-11-28T06:00:45.000Z");
});

test("rewriteCredentialResponse passes moto's raw ECR answer through, and puts an STS expiry in the past", () => {
  const raw = rewriteCredentialResponse("ecr-token", ECR_RESPONSE, NOW, {
    ecrPassThrough: true,
    ecrSeconds: 45,
  });
  assert.equal(raw.body, ECR_RESPONSE);
  assert.equal(raw.issued?.expiresAt, "2015-01-01T00:00:00.000Z");
  const past = rewriteCredentialResponse("sts-credentials", STS_RESPONSE, NOW, { stsSeconds: -3600 });
  assert.equal(past.issued?.expiration, "2026-11-28T05:00:00Z");
});

test("signEcrTokens: a token per entry the registry can check, expiring with expiresAt", () => {
  const body = rewriteEcrExpiresAt(ECR_RESPONSE, NOW, 30);
  const signed = JSON.parse(signEcrTokens(body, "k")) as {
    authorizationData: { authorizationToken: string; expiresAt: number }[];
  };
  const [entry] = signed.authorizationData;
  const [user, password] = Buffer.from(entry!.authorizationToken, "base64").toString("utf8").split(":");
  assert.equal(user, "AWS");
  const [expiry, nonce, mac] = password!.split(".");
  assert.equal(Number(expiry), Math.floor(entry!.expiresAt));
  assert.equal(password, registryPassword("k", entry!.expiresAt, nonce!));
  assert.notEqual(mac, registryPassword("other key", entry!.expiresAt, nonce!).split(".")[2]);
  assert.notEqual(signEcrTokens(body, "k"), signEcrTokens(body, "k"), "a new token every time");
  assert.equal(signEcrTokens("not json", "k"), "not json");
});
