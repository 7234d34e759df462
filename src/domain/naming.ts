// Names the operator derives: the caller's partition and account, role ARNs, STS session names, and the
// parts of an ECR registry URL. Pure string work; every error says what is wrong with the input.
import { fnv1a32 } from "./hash.ts";

/** GetCallerIdentity returned an Arn this module cannot read. */
export class InvalidArnError extends Error {
  override readonly name = "InvalidArnError";
}

/** spec.ecrRepositoryUrl is not an ECR registry URL. Permanent: only a spec change fixes it. */
export class InvalidEcrRegistryUrlError extends Error {
  override readonly name = "InvalidEcrRegistryUrlError";
}

export interface CallerIdentity {
  partition: string;
  account: string;
  assumedRole: boolean;
}

// Long input would only bloat messages and logs; the start is enough to recognise it.
const quote = (value: string) => JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);

const PARTITION = /^aws(-[a-z]+)*$/;
const ACCOUNT = /^[0-9]{12}$/;

/**
 * Reads partition and account from an STS GetCallerIdentity Arn, for example
 * arn:aws:sts::123456789012:assumed-role/R/S, arn:aws-cn:iam::123456789012:user/x or
 * arn:aws-us-gov:iam::123456789012:root.
 */
export function parseCallerArn(arn: string): CallerIdentity {
  const parts = arn.split(":");
  if (parts.length < 6 || parts[0] !== "arn") {
    throw new InvalidArnError(
      `${quote(arn)} is not an ARN (expected arn:<partition>:<service>::<account>:<resource>)`,
    );
  }
  const [, partition = "", service = "", , account = ""] = parts;
  const resource = parts.slice(5).join(":");
  if (!PARTITION.test(partition))
    throw new InvalidArnError(`${quote(arn)} has an unknown partition ${quote(partition)}`);
  if (service !== "sts" && service !== "iam") {
    throw new InvalidArnError(`${quote(arn)} is not an IAM or STS identity (service ${quote(service)})`);
  }
  if (!ACCOUNT.test(account)) throw new InvalidArnError(`${quote(arn)} has no 12-digit account id`);
  if (resource === "") throw new InvalidArnError(`${quote(arn)} has no resource part`);
  return { partition, account, assumedRole: service === "sts" && resource.startsWith("assumed-role/") };
}

/** arn:<partition>:iam::<account>:role/<roleName>; a role path stays part of the name (role/path/name). */
export function roleArnFor(identity: { partition: string; account: string }, roleName: string): string {
  return `arn:${identity.partition}:iam::${identity.account}:role/${roleName}`;
}

const SESSION_NAME_MAX = 64;
const SESSION_NAME_INVALID = /[^\w+=,.@-]/g;

/**
 * A RoleSessionName that CloudTrail readers can trace back to the resource: aar.<namespace>.<name>.
 * Namespaces contain no dots, so the first dot after the prefix separates namespace and name. When the
 * result would exceed STS's 64 characters (or needed characters replaced), it is cut and suffixed with a
 * hash of the full namespace/name, so distinct resources keep distinct session names.
 */
export function roleSessionName(namespace: string, name: string): string {
  return sessionNameWithin(`aar.${namespace}.${name}`, `${namespace}/${name}`);
}

/** The RoleSessionName of a ClusterAWSAssumeRole: caar.<name>, shortened the same way. */
export function clusterRoleSessionName(name: string): string {
  return sessionNameWithin(`caar.${name}`, `/${name}`);
}

/** The RoleSessionName of an AWSPodIdentityAssociation: aarpi.<namespace>.<name>, shortened the same way. */
export function podIdentitySessionName(namespace: string, name: string): string {
  return sessionNameWithin(`aarpi.${namespace}.${name}`, `pi/${namespace}/${name}`);
}

function sessionNameWithin(raw: string, identity: string): string {
  const clean = raw.replace(SESSION_NAME_INVALID, "-");
  if (clean === raw && clean.length <= SESSION_NAME_MAX) return clean;
  const suffix = `-${fnv1a32(identity).toString(16).padStart(8, "0")}`;
  return clean.slice(0, SESSION_NAME_MAX - suffix.length) + suffix;
}

export interface EcrRegistry {
  account: string;
  region: string;
  fips: boolean;
  /** The registry host, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com. */
  host: string;
  partition: "aws" | "aws-cn" | "aws-us-gov";
}

const REGION = /^[a-z]{2}(-[a-z]+)+-[0-9]+$/;
const URL_PATH = /^(\/[A-Za-z0-9._~-]+)*\/?$/;
const HOST_SHAPE = "<12-digit account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]";

/**
 * Splits an ECR registry URL such as https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/my-repo into
 * account, region and partition. Accepts FIPS hosts (dkr.ecr-fips), China (amazonaws.com.cn, cn-* regions)
 * and GovCloud (us-gov-* regions).
 */
export function parseEcrRegistryUrl(url: string): EcrRegistry {
  const fail = (why: string): never => {
    throw new InvalidEcrRegistryUrlError(`ecrRepositoryUrl ${quote(url)} ${why}`);
  };
  const scheme = "https://";
  if (!url.startsWith(scheme)) fail("must start with https://");
  const rest = url.slice(scheme.length);
  const slash = rest.indexOf("/");
  const host = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);

  const labels = host.split(".");
  const china = labels.at(-1) === "cn";
  const [account = "", dkr, ecr, region = "", amazonaws, com, ...extra] = china
    ? labels.slice(0, -1)
    : labels;
  if (dkr !== "dkr" || (ecr !== "ecr" && ecr !== "ecr-fips") || amazonaws !== "amazonaws" || com !== "com") {
    fail(`does not have a registry host of the form ${HOST_SHAPE}`);
  }
  if (extra.length > 0) fail(`has extra labels after amazonaws.com in its host; expected ${HOST_SHAPE}`);
  if (!ACCOUNT.test(account))
    fail(`must start its host with a 12-digit AWS account id, not ${quote(account)}`);
  if (!REGION.test(region)) fail(`names ${quote(region)}, which is not an AWS region such as eu-west-1`);
  if (china !== region.startsWith("cn-")) {
    fail(
      china
        ? "uses amazonaws.com.cn with a region outside China"
        : "uses a China region without amazonaws.com.cn",
    );
  }
  if (!URL_PATH.test(path)) {
    fail(
      "has a path with characters other than letters, digits and . _ ~ - separated by /, or a query or fragment",
    );
  }
  const partition = china ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws";
  return { account, region, fips: ecr === "ecr-fips", host, partition };
}
