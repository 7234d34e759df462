// Whether a set of labels matches a metav1.LabelSelector, with the API server's semantics: every matchLabels
// entry and every matchExpressions requirement must hold; an empty selector matches everything.
import type { LabelSelector } from "../api/cluster-schema.ts";

export function selectorMatches(
  selector: LabelSelector,
  labels: Record<string, string> | undefined,
): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(have, key);
    switch (operator) {
      case "In":
        if (!present || !values.includes(have[key]!)) return false;
        break;
      case "NotIn":
        // As in Kubernetes: a namespace without the label satisfies NotIn.
        if (present && values.includes(have[key]!)) return false;
        break;
      case "Exists":
        if (!present) return false;
        break;
      case "DoesNotExist":
        if (present) return false;
        break;
    }
  }
  return true;
}
