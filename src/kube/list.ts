// Lists for the informers: raw JSON in pages of LIST_PAGE_SIZE like client-go's reflector, each page projected
// through the informer's transform before the next is fetched, so a large list never sits in memory whole. Each
// page has the client's request deadline (--request-timeout-ms) unless the caller names another.
import type { KubeClient } from "./client.ts";

export const LIST_PAGE_SIZE = 500;

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

/** Lists `path` page by page; returns the transformed items and the resourceVersion to watch from. */
export async function listTransformed<T>(
  client: KubeClient,
  path: string,
  transform: (obj: unknown) => T,
  options: {
    labelSelector?: string | undefined;
    fieldSelector?: string | undefined;
    pageSize?: number;
    pageTimeoutMs?: number;
    signal?: AbortSignal;
  } = {},
): Promise<{ resourceVersion: string; items: T[] }> {
  const items: T[] = [];
  let resourceVersion = "";
  let continueToken: string | undefined;
  do {
    const deadlines = [
      options.signal,
      options.pageTimeoutMs ? AbortSignal.timeout(options.pageTimeoutMs) : undefined,
    ];
    const signals = deadlines.filter((s): s is AbortSignal => s !== undefined);
    const page = await client.get<ListPage>(path, {
      query: {
        limit: String(options.pageSize ?? LIST_PAGE_SIZE),
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        continue: continueToken,
      },
      signal: signals.length ? AbortSignal.any(signals) : undefined,
    });
    for (const item of page.items ?? []) items.push(transform(item));
    resourceVersion = page.metadata?.resourceVersion ?? "";
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  return { resourceVersion, items };
}
