// What a resource of a kind whose feature is off is told (the flag and the chart value that turn it on), and when it
// is told: when nobody has reported on its current generation, and, for a kind only one install serves, once over a
// report an earlier run with the flag on left behind.
import type { Condition } from "../api/schema.ts";
import { READY, Reason } from "./conditions.ts";

/** A kind the operator serves only with a flag, and where that flag is set. */
export interface DisabledKind {
  /** The kind, e.g. ClusterAWSAssumeRole. */
  kind: string;
  /** The operator flag, e.g. --cluster-assume-roles. */
  flag: string;
  /** The chart value that sets the flag, e.g. clusterAssumeRoles.enabled. */
  chartValue: string;
  /** What the user goes without, e.g. "no Secret is written". */
  consequence: string;
}

/** The Ready message of a resource whose kind this operator does not serve. */
export function featureDisabledMessage(kind: DisabledKind): string {
  return (
    `This operator runs without ${kind.flag} (chart: ${kind.chartValue}), so this ${kind.kind} is not served: ` +
    `${kind.consequence}. Turn the flag on, or delete the resource.`
  );
}

/**
 * Whether the stand-in should write its report: no Ready condition for the resource's current generation yet, or its
 * own report with another message. Another report on the current generation (a serving controller's, from an earlier
 * run with the flag on) is replaced only with `overwrite`, and only once (`toldAlready`: this process wrote its report
 * for this generation before), so two writers never take turns.
 */
export function needsDisabledReport(
  conditions: readonly Condition[] | undefined,
  generation: number | undefined,
  message: string,
  options: { overwrite: boolean; toldAlready: boolean } = { overwrite: false, toldAlready: false },
): boolean {
  const ready = conditions?.find((c) => c.type === READY);
  if (!ready) return true;
  if (generation !== undefined && ready.observedGeneration !== generation) return true;
  if (ready.reason === Reason.FeatureDisabled) return ready.message !== message;
  return options.overwrite && !options.toldAlready;
}
