// A small hand-written SVG bar chart for the benchmark report: binned series side by side, nice axis ticks,
// optional horizontal lines (a rate limit) and vertical markers (a scheduled time). No dependencies.

export interface BarSeries {
  name: string;
  color: string;
  /** One value per bin. */
  values: number[];
}

export interface BarChart {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Bin edges, ascending: bins.length + 1 numbers. */
  edges: number[];
  series: BarSeries[];
  hLines?: { y: number; label: string; color: string }[];
  vLines?: { x: number; label: string; color: string }[];
  width?: number;
  height?: number;
}

const FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\"";

/** About `count` round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (n: number) => String(Math.round(n * 10) / 10);

export function barChartSvg(c: BarChart): string {
  const width = c.width ?? 760;
  const height = c.height ?? 380;
  const m = { left: 64, right: 20, top: 44, bottom: 64 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const x0 = c.edges[0] ?? 0;
  const x1 = c.edges[c.edges.length - 1] ?? 1;
  const yMaxData = Math.max(1, ...c.series.flatMap((s) => s.values), ...(c.hLines ?? []).map((l) => l.y));
  const yTicks = niceTicks(0, yMaxData, 5);
  const yStep = (yTicks[1] ?? 1) - (yTicks[0] ?? 0) || 1;
  // The top tick covers the tallest bar, so bars never touch the frame.
  while ((yTicks.at(-1) ?? 0) < yMaxData * 1.02)
    yTicks.push(Number(((yTicks.at(-1) ?? 0) + yStep).toPrecision(12)));
  const yMax = yTicks.at(-1) ?? 1;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (y: number) => m.top + plotH - (y / yMax) * plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(c.title)}</text>`,
  );
  for (const t of yTicks) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + plotW}" y1="${num(sy(t))}" y2="${num(sy(t))}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${num(sy(t) + 4)}" text-anchor="end" fill="#444">${t}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 8)) {
    out.push(
      `<line x1="${num(sx(t))}" x2="${num(sx(t))}" y1="${m.top + plotH}" y2="${m.top + plotH + 4}" stroke="#444"/>`,
      `<text x="${num(sx(t))}" y="${m.top + plotH + 18}" text-anchor="middle" fill="#444">${t}</text>`,
    );
  }
  const groups = Math.max(1, c.series.length);
  c.series.forEach((s, si) => {
    s.values.forEach((v, bi) => {
      if (v <= 0) return;
      const left = sx(c.edges[bi]!);
      const right = sx(c.edges[bi + 1]!);
      const w = (right - left) / groups;
      const x = left + si * w;
      const pad = w > 4 ? 0.5 : 0;
      out.push(
        `<rect x="${num(x + pad)}" y="${num(sy(v))}" width="${num(Math.max(0.5, w - 2 * pad))}" height="${num(sy(0) - sy(v))}" fill="${s.color}"><title>${esc(s.name)}: ${v} in [${c.edges[bi]}, ${c.edges[bi + 1]})</title></rect>`,
      );
    });
  });
  for (const l of c.hLines ?? []) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + plotW}" y1="${num(sy(l.y))}" y2="${num(sy(l.y))}" stroke="${l.color}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${m.left + plotW - 4}" y="${num(sy(l.y) - 5)}" text-anchor="end" fill="${l.color}">${esc(l.label)}</text>`,
    );
  }
  for (const [i, l] of (c.vLines ?? []).entries()) {
    out.push(
      `<line x1="${num(sx(l.x))}" x2="${num(sx(l.x))}" y1="${m.top}" y2="${m.top + plotH}" stroke="${l.color}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
      `<text x="${num(sx(l.x) + 4)}" y="${m.top + 12 + i * 14}" fill="${l.color}">${esc(l.label)}</text>`,
    );
  }
  out.push(
    `<line x1="${m.left}" x2="${m.left + plotW}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#444"/>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + plotH}" stroke="#444"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 30}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
  );
  // Legend, bottom left to right.
  let lx = m.left;
  for (const s of c.series) {
    out.push(
      `<rect x="${lx}" y="${height - 16}" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${lx + 16}" y="${height - 6}">${esc(s.name)}</text>`,
    );
    lx += 16 + s.name.length * 7 + 24;
  }
  out.push("</svg>", "");
  return out.join("\n");
}

export interface LineSeries {
  name: string;
  color: string;
  /** Points in ascending x. */
  points: { x: number; y: number }[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  hLines?: { y: number; label: string; color: string }[];
  width?: number;
  height?: number;
}

/** A line chart with a marker on every point (a curve over a few measured sizes); x and y axes start at 0. */
export function lineChartSvg(c: LineChart): string {
  const width = c.width ?? 760;
  const height = c.height ?? 380;
  const m = { left: 64, right: 20, top: 44, bottom: 64 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const points = c.series.flatMap((s) => s.points);
  const xTicks = niceTicks(0, Math.max(1, ...points.map((p) => p.x)), 6);
  const yTicks = niceTicks(
    0,
    Math.max(1, ...points.map((p) => p.y), ...(c.hLines ?? []).map((l) => l.y)) * 1.05,
    5,
  );
  const xMax = Math.max(xTicks.at(-1) ?? 1, ...points.map((p) => p.x));
  const yMax = Math.max(yTicks.at(-1) ?? 1, ...points.map((p) => p.y));
  const sx = (x: number) => m.left + (x / xMax) * plotW;
  const sy = (y: number) => m.top + plotH - (y / yMax) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(c.title)}</text>`,
  ];
  for (const t of yTicks) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + plotW}" y1="${num(sy(t))}" y2="${num(sy(t))}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${num(sy(t) + 4)}" text-anchor="end" fill="#444">${t}</text>`,
    );
  }
  for (const t of xTicks) {
    out.push(
      `<line x1="${num(sx(t))}" x2="${num(sx(t))}" y1="${m.top + plotH}" y2="${m.top + plotH + 4}" stroke="#444"/>`,
      `<text x="${num(sx(t))}" y="${m.top + plotH + 18}" text-anchor="middle" fill="#444">${t}</text>`,
    );
  }
  for (const l of c.hLines ?? []) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + plotW}" y1="${num(sy(l.y))}" y2="${num(sy(l.y))}" stroke="${l.color}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${m.left + plotW - 4}" y="${num(sy(l.y) - 5)}" text-anchor="end" fill="${l.color}">${esc(l.label)}</text>`,
    );
  }
  for (const s of c.series) {
    const path = s.points.map((p) => `${num(sx(p.x))},${num(sy(p.y))}`).join(" ");
    out.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of s.points) {
      out.push(
        `<circle cx="${num(sx(p.x))}" cy="${num(sy(p.y))}" r="3.5" fill="${s.color}"><title>${esc(s.name)}: ${num(p.y)} at ${p.x}</title></circle>`,
      );
    }
  }
  out.push(
    `<line x1="${m.left}" x2="${m.left + plotW}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#444"/>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + plotH}" stroke="#444"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 30}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
  );
  let lx = m.left;
  for (const s of c.series) {
    out.push(
      `<rect x="${lx}" y="${height - 16}" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${lx + 16}" y="${height - 6}">${esc(s.name)}</text>`,
    );
    lx += 16 + s.name.length * 7 + 24;
  }
  out.push("</svg>", "");
  return out.join("\n");
}
