/** Test helper: relative error against a reference (setParam and checkGradients come from lora's test helpers). */

/** max |a - b| / max |b| (the scale of the reference). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  // All-zero references (e.g. top-1 weights, identically 1) are compared absolutely.
  return s < 1e-10 ? d : d / s;
}
