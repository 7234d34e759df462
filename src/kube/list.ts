// Lists for the informers: raw JSON (no typed deserialisation: client-node's ObjectSerializer would copy every
// object into model classes first), in pages of LIST_PAGE_SIZE like client-go's reflector, each page projected
// through the informer's transform before the next is fetched, so a large list never sits in memory whole.
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";

export const LIST_PAGE_SIZE = 500;
/** Deadline of one list page when the informer names none (the operator passes --request-timeout-ms). */
export const LIST_PAGE_TIMEOUT_MS = 60_000;

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

/** An API answer that was not 200, with its status code where the informer and ListWatch look for it. */
export class ListError extends Error {
  readonly statusCode: number;
  readonly code: number;
  constructor(path: string, status: number, body: string) {
    let message = `HTTP ${status}`;
    try {
      message = `${status}: ${(JSON.parse(body) as { message?: string }).message ?? message}`;
    } catch {
      // not a Status object
    }
    super(`list ${path}: ${message}`);
    this.statusCode = status;
    this.code = status;
  }
}

const http = new IsomorphicFetchHttpLibrary();

/** Lists `path` page by page; returns the transformed items and the resourceVersion to watch from. */
export async function listTransformed<T>(
  kubeConfig: KubeConfig,
  path: string,
  transform: (obj: unknown) => T,
  options: { labelSelector?: string; fieldSelector?: string; pageSize?: number; pageTimeoutMs?: number } = {},
): Promise<{ metadata: { resourceVersion?: string }; items: T[] }> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error("no current cluster in the kubeconfig");
  const items: T[] = [];
  let resourceVersion: string | undefined;
  let continueToken: string | undefined;
  do {
    const url = new URL(cluster.server + path);
    url.searchParams.set("limit", String(options.pageSize ?? LIST_PAGE_SIZE));
    if (options.labelSelector) url.searchParams.set("labelSelector", options.labelSelector);
    if (options.fieldSelector) url.searchParams.set("fieldSelector", options.fieldSelector);
    if (continueToken) url.searchParams.set("continue", continueToken);
    const ctx = new RequestContext(url.toString(), HttpMethod.GET);
    ctx.setHeaderParam("Accept", "application/json");
    ctx.setSignal(AbortSignal.timeout(options.pageTimeoutMs ?? LIST_PAGE_TIMEOUT_MS));
    await kubeConfig.applySecurityAuthentication(ctx);
    const response = await http.send(ctx).toPromise();
    const body = await response.body.text();
    if (response.httpStatusCode !== 200) throw new ListError(path, response.httpStatusCode, body);
    const page = JSON.parse(body) as ListPage;
    for (const item of page.items ?? []) items.push(transform(item));
    resourceVersion = page.metadata?.resourceVersion;
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  return { metadata: { ...(resourceVersion ? { resourceVersion } : {}) }, items };
}
