// Credentials → the Secret's type and data for each secretType, byte for byte as the original operator
// laid them out. Values are plain strings; the kube adapter base64-encodes them.
import type { SecretType } from "../api/schema.ts";
import { type AwsCredentials, ECR_USERNAME, type EcrToken, ecrPassword } from "./credentials.ts";

export const SECRET_TYPE_OPAQUE = "Opaque";
export const SECRET_TYPE_DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson";

export interface RenderedSecret {
  type: string;
  stringData: Record<string, string>;
}

export interface RenderInput {
  secretType: SecretType;
  credentials: AwsCredentials;
  /** For EcrDockerConfigJson: one login per registry URL (the key under `auths`). */
  ecr?: { registryUrl: string; token: EcrToken }[];
  /** For File: the profile name (default "default") and an optional region line. */
  file?: { profile?: string; region?: string };
}

/** The Kubernetes Secret type a secretType produces. */
export function expectedSecretType(secretType: SecretType): string {
  return secretType === "EcrDockerConfigJson" ? SECRET_TYPE_DOCKER_CONFIG_JSON : SECRET_TYPE_OPAQUE;
}

/** The data keys a secretType produces, in the order renderSecret writes them. */
export function expectedDataKeys(secretType: SecretType): string[] {
  switch (secretType) {
    case "Map":
      return ["awsAccessKeyId", "awsSecretAccessKey", "awsSessionToken"];
    case "File":
      return ["credentials"];
    case "EcrDockerConfigJson":
      return [".dockerconfigjson"];
  }
}

/** Throws when secretType is EcrDockerConfigJson and no ECR login is given. */
export function renderSecret(input: RenderInput): RenderedSecret {
  const { secretType, credentials: c } = input;
  const type = expectedSecretType(secretType);
  switch (secretType) {
    case "Map":
      return {
        type,
        stringData: {
          awsAccessKeyId: c.accessKeyId,
          awsSecretAccessKey: c.secretAccessKey,
          awsSessionToken: c.sessionToken,
        },
      };
    case "File": {
      // A line break inside a value would let it inject lines into the INI file; STS never sends one.
      if ([c.accessKeyId, c.secretAccessKey, c.sessionToken].some((v) => /[\r\n]/.test(v))) {
        throw new Error("credentials contain a line break and cannot be written as a credentials file");
      }
      const credentials =
        `[${input.file?.profile ?? "default"}]\n` +
        `aws_access_key_id=${c.accessKeyId}\n` +
        `aws_secret_access_key=${c.secretAccessKey}\n` +
        `aws_session_token=${c.sessionToken}\n` +
        (input.file?.region ? `region=${input.file.region}\n` : "");
      return { type, stringData: { credentials } };
    }
    case "EcrDockerConfigJson": {
      if (!input.ecr?.length)
        throw new Error("secretType EcrDockerConfigJson needs an ECR registry URL and token");
      const auths = Object.fromEntries(
        input.ecr.map(({ registryUrl, token }) => {
          const password = ecrPassword(token);
          return [
            registryUrl,
            { username: ECR_USERNAME, password, auth: btoa(`${ECR_USERNAME}:${password}`) },
          ];
        }),
      );
      const config = { auths };
      return { type, stringData: { ".dockerconfigjson": JSON.stringify(config) } };
    }
  }
}
