/**
 * Mixture-of-experts kernels: per-row expert matmul and its weight gradient. In f32 precision they run
 * on the WebAssembly kernel (wasm/gather.ts, f32 accumulators, optionally threaded); the TypeScript
 * paths below (JS double accumulators, each output rounded once) are the f64 oracle and the fallback.
 * Out-of-range expert indices throw (the cpu backend is the reference; see indexing.ts).
 */
import { decodedFloats } from './matmul.js';
import { f16Lut, newFloat, uninitFloat, type FloatArray, type Precision, type RView } from './storage.js';
import { gatherGemmF32, gatherGemmGradWF32 } from './wasm/gather.js';

function badIndex(kernel: string, value: number, pos: number, e: number): Error {
  return new Error(`cpu ${kernel}: index ${value} at position ${pos} out of range for ${e} experts`);
}

/** Rows grouped by expert: rows[start[j] .. start[j + 1]) are the rows of expert j, in increasing order. */
function groupRows(kernel: string, idx: Int32Array, m: number, e: number): { start: Int32Array; rows: Int32Array } {
  const start = new Int32Array(e + 1);
  for (let i = 0; i < m; i++) {
    const ex = idx[i];
    if (ex < 0 || ex >= e) throw badIndex(kernel, ex, i, e);
    start[ex + 1]++;
  }
  for (let j = 0; j < e; j++) start[j + 1] += start[j];
  const next = start.slice(0, e);
  const rows = new Int32Array(m);
  for (let i = 0; i < m; i++) rows[next[idx[i]]++] = i;
  return { start, rows };
}

/**
 * out[i, :] = x[i, :] @ w[idx[i]]; w [e, k, n] with any strides (validated by the caller). Each
 * used expert is packed once into a contiguous [k, n] panel of doubles (absorbing strides and f16),
 * then its rows run a 4-column register tile.
 */
export function gatherMatmul(
  x: FloatArray, w: RView, idx: Int32Array, m: number, k: number, n: number, e: number, precision: Precision, threads = 1,
): FloatArray {
  // Each row is written by its expert's product when k > 0, so a reused array needs no zero-fill.
  const out = k === 0 ? newFloat(precision, m * n) : uninitFloat(precision, m * n);
  const groups = groupRows('gatherMatmul', idx, m, e);
  if (out instanceof Float32Array && k > 0 && n > 0) {
    const wv = decodedFloats(w.data as FloatArray | Uint16Array, w.dtype === 'f16');
    const [s0, s1, s2] = w.strides;
    if (gatherGemmF32(x, wv, w.offset, s0, s1, s2, groups, k, n, e, out, threads)) return out;
  }
  const { start, rows } = groups;
  const src = w.data as FloatArray | Uint16Array;
  const lut = w.dtype === 'f16' ? f16Lut() : null;
  const [s0, s1, s2] = w.strides;
  const P = new Float64Array(k * n);
  const n4 = n - (n % 4);
  for (let ex = 0; ex < e; ex++) {
    if (start[ex] === start[ex + 1]) continue;
    for (let r = 0, d = 0; r < k; r++) {
      for (let c = 0, q = w.offset + ex * s0 + r * s1; c < n; c++, d++, q += s2) P[d] = lut ? lut[src[q]] : src[q];
    }
    for (let t = start[ex]; t < start[ex + 1]; t++) {
      const i = rows[t];
      const xb = i * k;
      const ob = i * n;
      for (let c = 0; c < n4; c += 4) {
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (let r = 0, p = c; r < k; r++, p += n) {
          const xv = x[xb + r];
          a0 += xv * P[p]; a1 += xv * P[p + 1]; a2 += xv * P[p + 2]; a3 += xv * P[p + 3];
        }
        out[ob + c] = a0; out[ob + c + 1] = a1; out[ob + c + 2] = a2; out[ob + c + 3] = a3;
      }
      for (let c = n4; c < n; c++) {
        let a = 0;
        for (let r = 0, p = c; r < k; r++, p += n) a += x[xb + r] * P[p];
        out[ob + c] = a;
      }
    }
  }
  return out;
}

/**
 * out[j] = sum over i with idx[i] == j (increasing i) of outer(x[i, :], g[i, :]) -> [e, k, n].
 * Rows are grouped by expert; each expert's [k, n] block is computed in 4x4 register tiles that
 * sweep its rows in order (a tile of its own: sharing matmul.ts's costs speed, see kernel4x4 there).
 */
export function gatherMatmulGradW(
  x: FloatArray, g: FloatArray, idx: Int32Array, m: number, k: number, n: number, e: number, precision: Precision, threads = 1,
): FloatArray {
  const groups = groupRows('gatherMatmulGradW', idx, m, e);
  const out = newFloat(precision, e * k * n);
  if (out instanceof Float32Array && gatherGemmGradWF32(x, g, groups, k, n, e, out, threads)) return out;
  const { start, rows } = groups;
  const k4 = k - (k % 4);
  const n4 = n - (n % 4);
  for (let j = 0; j < e; j++) {
    const t0 = start[j];
    const t1 = start[j + 1];
    if (t0 === t1) continue;
    const ob = j * k * n;
    for (let r = 0; r < k4; r += 4) {
      for (let c = 0; c < n4; c += 4) {
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let t = t0; t < t1; t++) {
          const i = rows[t];
          const xb = i * k + r;
          const gb = i * n + c;
          const x0 = x[xb], x1 = x[xb + 1], x2 = x[xb + 2], x3 = x[xb + 3];
          const g0 = g[gb], g1 = g[gb + 1], g2 = g[gb + 2], g3 = g[gb + 3];
          c00 += x0 * g0; c01 += x0 * g1; c02 += x0 * g2; c03 += x0 * g3;
          c10 += x1 * g0; c11 += x1 * g1; c12 += x1 * g2; c13 += x1 * g3;
          c20 += x2 * g0; c21 += x2 * g1; c22 += x2 * g2; c23 += x2 * g3;
          c30 += x3 * g0; c31 += x3 * g1; c32 += x3 * g2; c33 += x3 * g3;
        }
        let o = ob + r * n + c;
        out[o] = c00; out[o + 1] = c01; out[o + 2] = c02; out[o + 3] = c03; o += n;
        out[o] = c10; out[o + 1] = c11; out[o + 2] = c12; out[o + 3] = c13; o += n;
        out[o] = c20; out[o + 1] = c21; out[o + 2] = c22; out[o + 3] = c23; o += n;
        out[o] = c30; out[o + 1] = c31; out[o + 2] = c32; out[o + 3] = c33;
      }
    }
    // the edges the tiles leave: rows r >= k4 (all columns) and columns c >= n4 (rows below k4)
    for (let r = 0; r < k; r++) {
      for (let c = r < k4 ? n4 : 0; c < n; c++) {
        let a = 0;
        for (let t = t0; t < t1; t++) {
          const i = rows[t];
          a += x[i * k + r] * g[i * n + c];
        }
        out[ob + r * n + c] = a;
      }
    }
  }
  return out;
}
