// The mutating admission webhook (AdmissionReview v1, `POST /mutate`): a Pod CREATE of a ServiceAccount with an
// association is answered with the patch of domain/pod-injection.ts. It never refuses a Pod: every review it can read
// is allowed, with or without a patch.
import type { Logger } from "pino";
import { podInjectionPatch } from "../../domain/pod-injection.ts";
import type { PodShape } from "../../domain/pod-injection.ts";
import type { RouteHandler, RouteResponse } from "./server.ts";

/** The association serving a ServiceAccount, by its name; undefined when none does. */
export type AssociationLookup = (
  namespace: string,
  serviceAccountName: string,
) => string | undefined | Promise<string | undefined>;

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";

interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  resource?: { group?: string; version?: string; resource?: string };
  subResource?: string;
  namespace?: string;
  operation?: string;
  object?: PodShape & { metadata?: { namespace?: string; name?: string; generateName?: string } } & {
    spec?: { serviceAccountName?: string };
  };
}

/** The AdmissionReview answer for a request body; status 400 with a message for what is no AdmissionReview v1. */
export async function reviewAdmission(
  body: unknown,
  lookup: AssociationLookup,
  logger?: Logger,
): Promise<RouteResponse> {
  const request = admissionRequest(body);
  if (typeof request === "string") return { status: 400, body: { Code: "BadRequest", Message: request } };
  const allowed = { uid: request.uid, allowed: true };
  const answer = (response: object): RouteResponse => ({
    status: 200,
    body: { apiVersion: ADMISSION_API_VERSION, kind: "AdmissionReview", response },
  });
  const pod = request.object;
  const isPod = (request.kind?.group ?? "") === "" && request.kind?.kind === "Pod" && !request.subResource;
  if (!isPod || request.operation !== "CREATE") return answer(allowed);
  const problem = podProblem(pod);
  if (problem !== undefined || !pod) return { status: 400, body: { Code: "BadRequest", Message: problem } };
  const namespace = request.namespace || pod.metadata?.namespace || "";
  const serviceAccountName = pod.spec?.serviceAccountName || "default";
  const associationName = await lookup(namespace, serviceAccountName);
  const ops = podInjectionPatch(pod, associationName);
  if (ops.length === 0) return answer(allowed);
  logger?.debug(
    {
      namespace,
      name: pod.metadata?.name || pod.metadata?.generateName,
      serviceAccount: serviceAccountName,
      association: associationName,
    },
    "injecting the Pod Identity endpoint",
  );
  return answer({
    ...allowed,
    patchType: "JSONPatch",
    patch: Buffer.from(JSON.stringify(ops)).toString("base64"),
  });
}

/** The route of `POST /mutate`. */
export function admissionWebhookRoute(lookup: AssociationLookup, logger?: Logger): RouteHandler {
  return async (request) => {
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString("utf8"));
    } catch {
      return { status: 400, body: { Code: "BadRequest", Message: "the body is not JSON" } };
    }
    return reviewAdmission(body, lookup, logger);
  };
}

function admissionRequest(body: unknown): AdmissionRequest | string {
  if (!isObject(body)) return "the body is not a JSON object";
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== "AdmissionReview")
    return `want an AdmissionReview of ${ADMISSION_API_VERSION}, got kind ${String(body.kind)} of ${String(body.apiVersion)}`;
  const request = body.request;
  if (!isObject(request) || typeof request.uid !== "string" || request.uid === "")
    return "the AdmissionReview has no request with a uid";
  if (request.object !== undefined && request.object !== null && !isObject(request.object))
    return "the request's object is not an object";
  return request as unknown as AdmissionRequest;
}

/** What makes `object` no Pod the patch can be computed for, if anything. */
function podProblem(object: unknown): string | undefined {
  if (!isObject(object) || !isObject(object.spec) || !Array.isArray(object.spec.containers))
    return "the Pod has no spec.containers";
  if (object.metadata !== undefined && !isObject(object.metadata))
    return "the Pod's metadata is not an object";
  const annotations = object.metadata?.annotations;
  if (annotations !== undefined && !isObject(annotations)) return "the Pod's annotations are not an object";
  if (object.spec.volumes !== undefined && !Array.isArray(object.spec.volumes))
    return "spec.volumes is not a list";
  const containers = [...(object.spec.containers as unknown[]), ...listOrEmpty(object.spec.initContainers)];
  if (object.spec.initContainers !== undefined && !Array.isArray(object.spec.initContainers))
    return "spec.initContainers is not a list";
  for (const c of containers) {
    if (!isObject(c)) return "a container is not an object";
    for (const field of ["env", "volumeMounts"])
      if (c[field] !== undefined && !(Array.isArray(c[field]) && c[field].every(isObject)))
        return `a container's ${field} is not a list of objects`;
  }
  return undefined;
}

function listOrEmpty(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
