/**
 * The mixture-of-experts combine (backend.ts combineRows) and its gradient on plain arrays. It is
 * memory bound (one multiply-add per element read), so plain loops over rows suffice; sums run in
 * JS doubles and each output is rounded once, which keeps f64 exact for finite differences.
 */
import { uninitFloat, type FloatArray, type Precision } from './storage.js';

/** y[t, :] = sum_j w[t, j] v[t*k + j, :]; v [t*k, d], w [t, k] -> [t, d]. */
export function combineRows(p: Precision, v: FloatArray, w: FloatArray, t: number, k: number, d: number): FloatArray {
  const y = uninitFloat(p, t * d);
  for (let i = 0; i < t; i++) {
    const vo = i * k * d;
    // k is small (the router's top-k): the inner loop walks k rows side by side.
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += w[i * k + j]! * v[vo + j * d + c]!;
      y[i * d + c] = s;
    }
  }
  return y;
}

/** dv[t*k + j, :] = w[t, j] g[t, :], dw[t, j] = dot(v[t*k + j, :], g[t, :]); g [t, d]. */
export function combineRowsBackward(
  p: Precision, v: FloatArray, w: FloatArray, g: FloatArray, t: number, k: number, d: number,
): { dv: FloatArray; dw: FloatArray } {
  const dv = uninitFloat(p, t * k * d);
  const dw = uninitFloat(p, t * k);
  for (let i = 0; i < t; i++) {
    const go = i * d;
    for (let j = 0; j < k; j++) {
      const wij = w[i * k + j]!;
      const vo = (i * k + j) * d;
      let dot = 0;
      for (let c = 0; c < d; c++) {
        const gc = g[go + c]!;
        dv[vo + c] = wij * gc;
        dot += v[vo + c]! * gc;
      }
      dw[i * k + j] = dot;
    }
  }
  return { dv, dw };
}
