// The temporary credentials the operator hands out, and how an ECR authorization token is read.

/** Temporary credentials from STS AssumeRole. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expirationTime: Date;
}

/**
 * An ECR login as GetAuthorizationToken returns it. `token` is ECR's authorizationToken unchanged:
 * base64("AWS:" + password).
 *
 * Decision: the Secret's `password` is the DECODED password part (after "AWS:"), because that is what
 * `docker login -u AWS -p …` and the kubelet expect; its `auth` is base64("AWS:" + password), which is
 * ECR's authorizationToken itself.
 */
export interface EcrToken {
  token: string;
  expirationTime: Date;
}

/** ECR returned an authorizationToken that is not base64("AWS:<password>"). The token is never quoted. */
export class InvalidEcrTokenError extends Error {
  override readonly name = "InvalidEcrTokenError";
}

export const ECR_USERNAME = "AWS";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The password inside an ECR authorizationToken. */
export function ecrPassword(token: EcrToken): string {
  if (token.token.length === 0 || token.token.length % 4 !== 0 || !BASE64.test(token.token)) {
    throw new InvalidEcrTokenError("the ECR authorization token is not valid base64");
  }
  // atob is a pure global; ECR passwords are ASCII, so its Latin-1 output is the text.
  const decoded = atob(token.token);
  const prefix = `${ECR_USERNAME}:`;
  if (!decoded.startsWith(prefix) || decoded.length === prefix.length) {
    throw new InvalidEcrTokenError('the ECR authorization token does not decode to "AWS:<password>"');
  }
  return decoded.slice(prefix.length);
}
