/**
 * Reductions over the trailing dims of a contiguous [rows, cols] array. Sums accumulate in a
 * JS double and round once on store, so f32 mode is at least as accurate as the GPU's tree sum.
 */
import type { ReduceOp } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { newArray, type Precision } from './storage.js';

export function reduceRows(op: ReduceOp, x: TypedArray, dtype: DType, rows: number, cols: number, precision: Precision): TypedArray {
  if (op === 'argmax' || op === 'argmin') {
    const o = new Int32Array(rows);
    const isMax = op === 'argmax';
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let best = 0;
      let bv = x[base];
      // Strict comparisons keep the lowest index on ties; the first NaN wins and sticks,
      // matching max/min which propagate NaN.
      if (bv === bv) {
        for (let c = 1; c < cols; c++) {
          const v = x[base + c];
          if (v !== v) { best = c; break; }
          if (isMax ? v > bv : v < bv) { bv = v; best = c; }
        }
      }
      o[r] = best;
    }
    return o;
  }
  const o = newArray(precision, dtype, rows);
  const isInt = dtype === 'i32';
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const end = base + cols;
    if (op === 'sum') {
      let s = 0;
      if (isInt) for (let i = base; i < end; i++) s = (s + x[i]) | 0;
      else for (let i = base; i < end; i++) s += x[i];
      o[r] = s;
    } else if (op === 'max') {
      let m = cols === 0 ? (isInt ? -2147483648 : -Infinity) : x[base];
      for (let i = base + 1; i < end && m === m; i++) { const v = x[i]; if (v > m || v !== v) m = v; }
      o[r] = m;
    } else if (op === 'min') {
      let m = cols === 0 ? (isInt ? 2147483647 : Infinity) : x[base];
      for (let i = base + 1; i < end && m === m; i++) { const v = x[i]; if (v < m || v !== v) m = v; }
      o[r] = m;
    } else {
      throw new Error(`cpu reduce: unknown op '${op as string}'`);
    }
  }
  return o;
}
