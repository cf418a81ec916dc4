/** Inline SVG charts (no scripts, no external assets): grouped bars with error bars, and lines. */

export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const n2 = (x: number) => (Math.round(x * 100) / 100).toString();

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const d = Math.abs(hi) || 1;
    lo -= d / 2;
    hi += d / 2;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let v = start; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

export interface BarSeries {
  label: string;
  values: number[];
  /** Half-length of each error bar (same units), NaN for none. */
  errors?: number[];
}

export interface BarChartSpec {
  id: string;
  title: string;
  categories: string[];
  series: BarSeries[];
  yLabel: string;
  /** A dashed horizontal reference line (e.g. uniform expert share). */
  refLine?: { y: number; label: string };
  yFromZero?: boolean;
  width?: number;
  height?: number;
}

function legend(labels: string[], x: number, y: number, width: number): { svg: string; height: number } {
  const parts: string[] = [];
  let cx = x, cy = y;
  for (let i = 0; i < labels.length; i++) {
    const w = 22 + labels[i]!.length * 6.6;
    if (cx + w > x + width && cx > x) {
      cx = x;
      cy += 18;
    }
    parts.push(
      `<g class="legend-item"><rect x="${n2(cx)}" y="${n2(cy - 9)}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>` +
        `<text x="${n2(cx + 16)}" y="${n2(cy + 1)}">${esc(labels[i]!)}</text></g>`,
    );
    cx += w + 10;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: cy - y + 18 };
}

/** Grouped bar chart: one group per category, one bar per series, optional error bars. */
export function barChart(spec: BarChartSpec): string {
  const W = spec.width ?? 760;
  const H0 = spec.height ?? 320;
  const m = { l: 60, r: 16, t: 34, b: 40 };
  const lg = legend(spec.series.map((s) => s.label), m.l, 0, W - m.l - m.r);
  const H = H0 + lg.height;
  const plotH = H0 - m.t - m.b;
  const plotW = W - m.l - m.r;
  const all = spec.series.flatMap((s) => s.values.map((v, i) => [v - (s.errors?.[i] || 0), v + (s.errors?.[i] || 0)])).flat().filter(Number.isFinite);
  if (spec.refLine) all.push(spec.refLine.y);
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (spec.yFromZero !== false) lo = Math.min(0, lo);
  const ticks = niceTicks(lo, hi, 5);
  lo = ticks[0]!;
  hi = ticks[ticks.length - 1]!;
  const y = (v: number) => m.t + plotH - ((v - lo) / (hi - lo || 1)) * plotH;
  const groupW = plotW / Math.max(1, spec.categories.length);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(1, spec.series.length));
  const parts: string[] = [];
  parts.push(`<text class="chart-title" x="${W / 2}" y="18" text-anchor="middle">${esc(spec.title)}</text>`);
  for (const t of ticks) {
    parts.push(`<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${n2(y(t))}" y2="${n2(y(t))}" stroke="#ddd"/>`);
    parts.push(`<text class="tick" x="${m.l - 6}" y="${n2(y(t) + 4)}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  parts.push(`<text class="axis-label" transform="translate(14 ${n2(m.t + plotH / 2)}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  spec.categories.forEach((c, ci) => {
    const gx = m.l + ci * groupW + groupW * 0.1;
    parts.push(`<text class="category" x="${n2(m.l + ci * groupW + groupW / 2)}" y="${n2(m.t + plotH + 18)}" text-anchor="middle">${esc(c)}</text>`);
    spec.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = gx + si * barW;
      const y0 = y(Math.max(lo, Math.min(0, hi))), y1 = y(v);
      const err = s.errors?.[ci];
      const tip = `${s.label} / ${c}: ${v.toFixed(2)}${err !== undefined && Number.isFinite(err) ? ` ± ${err.toFixed(2)}` : ''}`;
      parts.push(
        `<rect class="bar" data-series="${esc(s.label)}" data-category="${esc(c)}" x="${n2(x)}" y="${n2(Math.min(y0, y1))}" width="${n2(barW * 0.92)}" height="${n2(Math.abs(y1 - y0))}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(tip)}</title></rect>`,
      );
      if (err !== undefined && Number.isFinite(err) && err > 0) {
        const cx = x + (barW * 0.92) / 2;
        const ya = y(v - err), yb = y(v + err);
        parts.push(
          `<g class="error-bar" stroke="#222" stroke-width="1.2"><line x1="${n2(cx)}" x2="${n2(cx)}" y1="${n2(ya)}" y2="${n2(yb)}"/>` +
            `<line x1="${n2(cx - 3)}" x2="${n2(cx + 3)}" y1="${n2(ya)}" y2="${n2(ya)}"/><line x1="${n2(cx - 3)}" x2="${n2(cx + 3)}" y1="${n2(yb)}" y2="${n2(yb)}"/></g>`,
        );
      }
    });
  });
  if (spec.refLine) {
    const ry = n2(y(spec.refLine.y));
    parts.push(`<line class="ref-line" x1="${m.l}" x2="${W - m.r}" y1="${ry}" y2="${ry}" stroke="#555" stroke-dasharray="5 4"/>`);
    parts.push(`<text class="ref-label" x="${W - m.r}" y="${n2(y(spec.refLine.y) - 4)}" text-anchor="end">${esc(spec.refLine.label)}</text>`);
  }
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${n2(m.t + plotH)}" y2="${n2(m.t + plotH)}" stroke="#333"/>`);
  parts.push(`<g transform="translate(0 ${H0 + 4})">${lg.svg}</g>`);
  return svgWrap(spec.id, spec.title, W, H, parts.join(''));
}

export interface LineSeries {
  label: string;
  points: { x: number; y: number }[];
}

export interface LineChartSpec {
  id: string;
  title: string;
  series: LineSeries[];
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

export function lineChart(spec: LineChartSpec): string {
  const W = spec.width ?? 760;
  const H0 = spec.height ?? 300;
  const m = { l: 60, r: 16, t: 34, b: 44 };
  const lg = legend(spec.series.map((s) => s.label), m.l, 0, W - m.l - m.r);
  const H = H0 + lg.height;
  const plotH = H0 - m.t - m.b;
  const plotW = W - m.l - m.r;
  const pts = spec.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xt = niceTicks(pts.length ? Math.min(...pts.map((p) => p.x)) : 0, pts.length ? Math.max(...pts.map((p) => p.x)) : 1, 6);
  const yt = niceTicks(pts.length ? Math.min(...pts.map((p) => p.y)) : 0, pts.length ? Math.max(...pts.map((p) => p.y)) : 1, 5);
  const [x0, x1, y0, y1] = [xt[0]!, xt[xt.length - 1]!, yt[0]!, yt[yt.length - 1]!];
  const sx = (v: number) => m.l + ((v - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (v: number) => m.t + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH;
  const parts: string[] = [`<text class="chart-title" x="${W / 2}" y="18" text-anchor="middle">${esc(spec.title)}</text>`];
  for (const t of yt) {
    parts.push(`<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${n2(sy(t))}" y2="${n2(sy(t))}" stroke="#ddd"/>`);
    parts.push(`<text class="tick" x="${m.l - 6}" y="${n2(sy(t) + 4)}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  for (const t of xt) parts.push(`<text class="tick" x="${n2(sx(t))}" y="${n2(m.t + plotH + 16)}" text-anchor="middle">${fmtTick(t)}</text>`);
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${n2(m.t + plotH)}" y2="${n2(m.t + plotH)}" stroke="#333"/>`);
  parts.push(`<text class="axis-label" x="${n2(m.l + plotW / 2)}" y="${n2(m.t + plotH + 34)}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(`<text class="axis-label" transform="translate(14 ${n2(m.t + plotH / 2)}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  spec.series.forEach((s, i) => {
    const p = s.points.filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y));
    if (!p.length) return;
    const d = p.map((q, j) => `${j ? 'L' : 'M'}${n2(sx(q.x))} ${n2(sy(q.y))}`).join(' ');
    parts.push(`<path class="line" data-series="${esc(s.label)}" d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.8"><title>${esc(s.label)}</title></path>`);
  });
  parts.push(`<g transform="translate(0 ${H0 + 4})">${lg.svg}</g>`);
  return svgWrap(spec.id, spec.title, W, H, parts.join(''));
}

function svgWrap(id: string, title: string, W: number, H: number, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${esc(id)}" role="img" aria-label="${esc(title)}" ` +
    `viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12"><title>${esc(title)}</title>${body}</svg>`
  );
}
