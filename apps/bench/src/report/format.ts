/** Number formatting shared by the Markdown and HTML reports. */

/** Accuracy 0..1 as percent with two decimals ("77.56"); '–' when missing. */
export function pct(x: number): string {
  return Number.isFinite(x) ? (x * 100).toFixed(2) : '–';
}

export function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

/** 1234567 -> "1.23M", 45600 -> "45.6K", 812 -> "812". */
export function count(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)}K`;
  return String(Math.round(x));
}

/** Throughput in samples/s with three significant digits. */
export function rate(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
