/**
 * Row/column gathers and scatters, and the stable row sort.
 *
 * Out-of-range indices: the contract lets the GPU read zeros (gathers) or drop the write
 * (scatters). The cpu backend is the reference implementation, so it throws instead, naming the
 * kernel, the offending index and the valid range: a silent zero would hide indexing bugs.
 */
import type { TypedArray } from '../../dtype.js';
import { newFloat, uninitArray, uninitFloat, type FloatArray, type Precision } from './storage.js';

function outOfRange(kernel: string, what: string, value: number, pos: number, limit: number): Error {
  return new Error(`cpu ${kernel}: index ${value} at position ${pos} out of range for ${limit} ${what}`);
}

/** out[i, :] = x[idx[i], :]; the output keeps x's element type. */
export function gatherRows(x: TypedArray, idx: Int32Array, rows: number, cols: number, n: number, make: (len: number) => TypedArray): TypedArray {
  const out = make(n * cols);
  for (let i = 0; i < n; i++) {
    const r = idx[i];
    if (r < 0 || r >= rows) throw outOfRange('gatherRows', 'rows', r, i, rows);
    out.set(x.subarray(r * cols, r * cols + cols), i * cols);
  }
  return out;
}

/** Rows added in increasing i, so the float sum order is fixed. */
export function scatterAddRows(src: FloatArray, idx: Int32Array, n: number, cols: number, rows: number, precision: Precision): FloatArray {
  const out = newFloat(precision, rows * cols);
  for (let i = 0; i < n; i++) {
    const r = idx[i];
    if (r < 0 || r >= rows) throw outOfRange('scatterAddRows', 'rows', r, i, rows);
    const o = r * cols;
    const s = i * cols;
    for (let c = 0; c < cols; c++) out[o + c] += src[s + c];
  }
  return out;
}

export function gatherCols(x: TypedArray, idx: Int32Array, rows: number, cols: number, k: number, make: (len: number) => TypedArray): TypedArray {
  const out = make(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) {
      const c = idx[r * k + j];
      if (c < 0 || c >= cols) throw outOfRange('gatherCols', 'cols', c, r * k + j, cols);
      out[r * k + j] = x[r * cols + c];
    }
  }
  return out;
}

export function scatterAddCols(g: FloatArray, idx: Int32Array, rows: number, k: number, cols: number, precision: Precision): FloatArray {
  const out = newFloat(precision, rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) {
      const c = idx[r * k + j];
      if (c < 0 || c >= cols) throw outOfRange('scatterAddCols', 'cols', c, r * k + j, cols);
      out[r * cols + c] += g[r * k + j];
    }
  }
  return out;
}

/**
 * NaN ranks above every number (as in torch.sort): first descending, last ascending. The sort
 * key maps NaN to +Infinity and a second flag separates the two.
 */
function rankKeys(x: FloatArray, b: number, cols: number, key: Float64Array, nan: Uint8Array): void {
  for (let c = 0; c < cols; c++) {
    const v = x[b + c];
    const isNaN = v !== v;
    key[c] = isNaN ? Infinity : v;
    nan[c] = isNaN ? 1 : 0;
  }
}

/**
 * Stable sort of each row, keeping the first k. Ties break on the column index explicitly, so
 * the order is total and stable whatever the engine's sort does. Small k (top-k sampling) uses
 * an insertion buffer instead: O(cols) per row when most entries fail the k-th-best test.
 */
export function sortRows(
  x: FloatArray, rows: number, cols: number, k: number, descending: boolean, precision: Precision,
): { values: FloatArray; indices: Int32Array } {
  const values = uninitFloat(precision, rows * k);
  const indices = uninitArray(precision, 'i32', rows * k) as Int32Array;
  const key = new Float64Array(cols);
  const nan = new Uint8Array(cols);
  const dir = descending ? 1 : -1;
  // a ranks strictly before b (ignoring the index tie-break).
  const before = (a: number, b: number): boolean =>
    key[a] !== key[b] ? (key[a] > key[b]) === descending : nan[a] !== nan[b] && (nan[a] > nan[b]) === descending;
  const useTopK = k <= 64 && k * 8 <= cols;
  const order = useTopK ? new Int32Array(k) : new Array<number>(cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    rankKeys(x, b, cols, key, nan);
    if (useTopK) {
      let len = 0;
      for (let c = 0; c < cols; c++) {
        if (len === k && !before(c, order[k - 1])) continue;
        // Later columns go after equal earlier ones, which keeps the selection stable.
        let pos = len < k ? len : k - 1;
        while (pos > 0 && before(c, order[pos - 1])) {
          order[pos] = order[pos - 1];
          pos--;
        }
        order[pos] = c;
        if (len < k) len++;
      }
    } else {
      for (let c = 0; c < cols; c++) order[c] = c;
      (order as number[]).sort((i, j) => {
        if (key[i] !== key[j]) return key[i] < key[j] ? dir : -dir;
        if (nan[i] !== nan[j]) return (nan[j] - nan[i]) * dir;
        return i - j;
      });
    }
    for (let j = 0; j < k; j++) {
      const c = order[j];
      values[r * k + j] = x[b + c];
      indices[r * k + j] = c;
    }
  }
  return { values, indices };
}

/** Arrays of x's element type for gathers, which write every output element. */
export function newLike(precision: Precision, x: TypedArray): (len: number) => TypedArray {
  const dtype = x instanceof Int32Array ? 'i32' : x instanceof Uint16Array ? 'f16' : 'f32';
  return (len) => uninitArray(precision, dtype, len);
}
