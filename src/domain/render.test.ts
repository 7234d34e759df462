// Tests are not part of the pure domain; only the test runner and assertions come from node:*.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SECRET_TYPES } from "../api/schema.ts";
import { InvalidEcrTokenError, ecrPassword, type AwsCredentials } from "./credentials.ts";
import { expectedDataKeys, expectedSecretType, renderSecret } from "./render.ts";

const credentials: AwsCredentials = {
  accessKeyId: "ASIAEXAMPLE",
  secretAccessKey: "secret/with+chars=",
  sessionToken: "token//abc==",
  expirationTime: new Date("2030-01-01T00:00:00Z"),
};
const registryUrl = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo";
const ecrToken = { token: btoa("AWS:pa55word"), expirationTime: new Date("2030-01-01T12:00:00Z") };

describe("renderSecret", () => {
  test("Map writes the three keys individually into an Opaque Secret", () => {
    assert.deepEqual(renderSecret({ secretType: "Map", credentials }), {
      type: "Opaque",
      stringData: {
        awsAccessKeyId: "ASIAEXAMPLE",
        awsSecretAccessKey: "secret/with+chars=",
        awsSessionToken: "token//abc==",
      },
    });
  });

  test("File writes a shared credentials file with a [default] profile", () => {
    assert.deepEqual(renderSecret({ secretType: "File", credentials }), {
      type: "Opaque",
      stringData: {
        credentials:
          "[default]\naws_access_key_id=ASIAEXAMPLE\naws_secret_access_key=secret/with+chars=\n" +
          "aws_session_token=token//abc==\n",
      },
    });
  });

  test("File names the profile when one is given", () => {
    assert.equal(
      renderSecret({ secretType: "File", credentials, file: { profile: "dev" } }).stringData.credentials,
      "[dev]\naws_access_key_id=ASIAEXAMPLE\naws_secret_access_key=secret/with+chars=\n" +
        "aws_session_token=token//abc==\n",
    );
  });

  test("File adds a region line to the profile when a region is given", () => {
    assert.equal(
      renderSecret({ secretType: "File", credentials, file: { profile: "dev", region: "eu-west-1" } })
        .stringData.credentials,
      "[dev]\naws_access_key_id=ASIAEXAMPLE\naws_secret_access_key=secret/with+chars=\n" +
        "aws_session_token=token//abc==\nregion=eu-west-1\n",
    );
    assert.match(
      renderSecret({ secretType: "File", credentials, file: { region: "eu-west-1" } }).stringData
        .credentials!,
      /^\[default\]\n(.*\n){3}region=eu-west-1\n$/,
    );
  });

  test("File with an empty file option is the plain [default] profile without a region", () => {
    assert.deepEqual(
      renderSecret({ secretType: "File", credentials, file: {} }),
      renderSecret({ secretType: "File", credentials }),
    );
  });

  test("Map and EcrDockerConfigJson ignore the File options", () => {
    const file = { profile: "dev", region: "eu-west-1" };
    assert.deepEqual(
      renderSecret({ secretType: "Map", credentials, file }),
      renderSecret({ secretType: "Map", credentials }),
    );
    const ecr = { registryUrl, token: ecrToken };
    assert.deepEqual(
      renderSecret({ secretType: "EcrDockerConfigJson", credentials, ecr, file }),
      renderSecret({ secretType: "EcrDockerConfigJson", credentials, ecr }),
    );
  });

  test("File refuses values with line breaks rather than write a corrupt file", () => {
    assert.throws(() =>
      renderSecret({ secretType: "File", credentials: { ...credentials, sessionToken: "a\nb" } }),
    );
  });

  test("EcrDockerConfigJson writes a dockerconfigjson with user AWS, the decoded password and auth", () => {
    const secret = renderSecret({
      secretType: "EcrDockerConfigJson",
      credentials,
      ecr: { registryUrl, token: ecrToken },
    });
    assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
    assert.deepEqual(Object.keys(secret.stringData), [".dockerconfigjson"]);
    assert.equal(
      secret.stringData[".dockerconfigjson"],
      `{"auths":{"${registryUrl}":{"username":"AWS","password":"pa55word","auth":"${ecrToken.token}"}}}`,
    );
  });

  test("EcrDockerConfigJson without an ECR login throws", () => {
    assert.throws(() => renderSecret({ secretType: "EcrDockerConfigJson", credentials }), /ECR/);
  });

  for (const secretType of SECRET_TYPES) {
    test(`${secretType} produces the type and keys expectedSecretType and expectedDataKeys announce`, () => {
      const secret = renderSecret({ secretType, credentials, ecr: { registryUrl, token: ecrToken } });
      assert.equal(secret.type, expectedSecretType(secretType));
      assert.deepEqual(Object.keys(secret.stringData), expectedDataKeys(secretType));
    });
  }
});

describe("ecrPassword", () => {
  test("returns the part after AWS: of the decoded token", () => {
    assert.equal(ecrPassword(ecrToken), "pa55word");
  });

  const bad: [string, string][] = [
    ["not base64", "not-base64!"],
    ["empty", ""],
    ["another user", btoa("bob:pw")],
    ["no password", btoa("AWS:")],
  ];
  for (const [what, token] of bad) {
    test(`rejects a token that is ${what}, without quoting it`, () => {
      assert.throws(
        () => ecrPassword({ token, expirationTime: new Date(0) }),
        (e: unknown) => e instanceof InvalidEcrTokenError && (token === "" || !e.message.includes(token)),
      );
    });
  }
});
