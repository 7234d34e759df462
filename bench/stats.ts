// Small statistics for the benchmark reports: percentiles, histograms and the busiest one-second window.

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of ascending `sorted` (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export interface Bin {
  /** Inclusive lower edge. */
  from: number;
  /** Exclusive upper edge. */
  to: number;
  count: number;
}

/** Equal-width bins of `width` from `start` (default: the minimum rounded down to a multiple of width). */
export function histogram(values: readonly number[], width: number, start?: number, end?: number): Bin[] {
  if (values.length === 0) return [];
  const lo = start ?? Math.floor(Math.min(...values) / width) * width;
  const hi = end ?? Math.max(...values);
  const count = Math.max(1, Math.floor((hi - lo) / width) + 1);
  const bins: Bin[] = Array.from({ length: count }, (_, i) => ({
    from: lo + i * width,
    to: lo + (i + 1) * width,
    count: 0,
  }));
  for (const v of values) {
    const i = Math.floor((v - lo) / width);
    if (i >= 0 && i < count) bins[i]!.count++;
  }
  return bins;
}

/** The most events in any window of `windowMs` (sliding, anchored at an event), and where it starts. */
export function peakInWindow(times: readonly number[], windowMs = 1000): { peak: number; at: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let best = { peak: 0, at: NaN };
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    while (sorted[j]! <= sorted[i]! - windowMs) j++;
    const inWindow = i - j + 1;
    if (inWindow > best.peak) best = { peak: inWindow, at: sorted[j]! };
  }
  return best;
}

/** Counts per whole second since `origin` (ms), for a per-second chart. */
export function perSecond(times: readonly number[], origin: number): number[] {
  const counts: number[] = [];
  for (const t of times) {
    const s = Math.floor((t - origin) / 1000);
    if (s < 0) continue;
    while (counts.length <= s) counts.push(0);
    counts[s]!++;
  }
  return counts;
}

export const seconds = (ms: number, digits = 2): string =>
  Number.isFinite(ms) ? (ms / 1000).toFixed(digits) : "–";
export const mib = (bytes: number): string =>
  Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : "–";
export const fixed = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : "–");
