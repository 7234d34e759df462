// The Prometheus text format as the operator's /metrics writes it (prom-client), read back into samples, and samples
// written as promtool's series notation, so rule tests feed promtool what a scrape of the real operator holds.

/** One sample: metric name, labels (without the name) and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** `# TYPE` of each metric family (counter, gauge, histogram, ...), by family name. */
  types: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m) throw new Error(`unparsable labels at ${start}: ${line}`);
    labels[m[1]!] = unescape(m[2]!);
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

/** Parses Prometheus text exposition; throws on a line it cannot read. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "") continue;
    if (trimmed.startsWith("#")) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(trimmed);
      if (type) types.set(type[1]!, type[2]!);
      continue;
    }
    const m = SAMPLE.exec(trimmed);
    if (!m) throw new Error(`unparsable sample: ${line}`);
    samples.push({ name: m[1]!, labels: parseLabels(m[2] ?? "", line), value: parseValue(m[3]!) });
  }
  return { samples, types };
}

/** The family (`# TYPE` name) a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` belong to it. */
export function familyOf(name: string, types: Map<string, string>): string {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return types.has(base) ? base : name;
}

/** Whether a sample only ever grows (a counter, or a histogram's bucket, sum or count). */
export function isCumulative(sample: Sample, types: Map<string, string>): boolean {
  const type = types.get(familyOf(sample.name, types));
  return type === "counter" || type === "histogram" || type === "summary";
}

const quote = (value: string) => JSON.stringify(value);

/** `name{a="x", b="y"}` as PromQL and promtool's input_series spell a series. */
export function seriesNotation(name: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${quote(v)}`);
  return `${name}{${pairs.join(", ")}}`;
}

/** A label set's names, sorted and joined: the shape of a series regardless of its values. */
export const labelShape = (labels: Record<string, string>): string => Object.keys(labels).sort().join(",");
