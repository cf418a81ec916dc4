/**
 * Reductions over the trailing dims of a contiguous [rows, cols] array. Sums accumulate in a
 * JS double and round once on store, so f32 mode is at least as accurate as the GPU's tree sum.
 */
import type { ReduceOp } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { recycle, scratchF64, uninitArray, uninitFloat, type Precision, type RView } from './storage.js';
import { contiguous, elementOffsets, isContiguousView, numelOf, walker } from './strided.js';

/**
 * op over the trailing `reduceDims` dims of a view. A float sum whose reduced dims are not the
 * fastest-moving in memory (a transposed or permuted view, e.g. summing [tokens, k, d] over k) is
 * accumulated slab by slab: for each reduced index, the output-shaped slab, which is made of contiguous
 * runs, is added into a double accumulator. Each output still sums its inputs in the same order, in a
 * double, rounded once, so the result equals gathering the view and summing rows, without
 * materialising the transposed copy.
 */
export function reduceView(op: ReduceOp, v: RView, reduceDims: number, precision: Precision): TypedArray {
  const rank = v.shape.length;
  const split = rank - reduceDims;
  const rows = numelOf(v.shape.slice(0, split));
  const cols = numelOf(v.shape.slice(split));
  if (op === 'sum' && v.dtype === 'f32' && rows > 0 && cols > 1 && !isContiguousView(v)) {
    const slab = walker({ ...v, shape: v.shape.slice(0, split), strides: v.strides.slice(0, split) });
    const last = slab.sh.length - 1;
    if (last >= 0 && slab.st[last] === 1) {
      const runStarts = elementOffsets(slab.sh.slice(0, last), slab.st.slice(0, last));
      const slabStarts = elementOffsets(v.shape.slice(split), v.strides.slice(split));
      return sumSlabs(v.data, v.offset, slabStarts, runStarts, slab.sh[last], precision);
    }
  }
  return reduceRows(op, contiguous(v, precision), v.dtype, rows, cols, precision);
}

/** out[q * n + k] = sum over j (increasing) of data[offset + slabStarts[j] + runStarts[q] + k], in doubles. */
function sumSlabs(
  data: TypedArray, offset: number, slabStarts: Float64Array, runStarts: Float64Array, n: number, precision: Precision,
): TypedArray {
  const acc = scratchF64(runStarts.length * n);
  for (let j = 0; j < slabStarts.length; j++) {
    for (let q = 0; q < runStarts.length; q++) {
      // Offsets are stored as doubles; an int32 index keeps the loads on V8's fast integer path.
      const p = (offset + slabStarts[j] + runStarts[q]) | 0;
      const a = q * n;
      // The first slab initialises the accumulator, so the reused scratch needs no zero-fill.
      if (j === 0) for (let k = 0; k < n; k++) acc[a + k] = data[p + k];
      else for (let k = 0; k < n; k++) acc[a + k] += data[p + k];
    }
  }
  const out = uninitFloat(precision, acc.length);
  out.set(acc);
  recycle(acc);
  return out;
}

export function reduceRows(op: ReduceOp, x: TypedArray, dtype: DType, rows: number, cols: number, precision: Precision): TypedArray {
  if (op === 'argmax' || op === 'argmin') {
    const o = uninitArray(precision, 'i32', rows);
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
  const o = uninitArray(precision, dtype, rows);
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
