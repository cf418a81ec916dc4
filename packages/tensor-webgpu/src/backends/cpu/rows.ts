/**
 * Row kernels on contiguous [rows, cols] arrays: softmax, cross-entropy, rmsnorm, rope.
 * Per-row statistics (max, sums, mean squares) are JS doubles in both precisions.
 */
import type { RopeParams } from '../../backend.js';
import { uninitFloat, type FloatArray, type Precision } from './storage.js';
import { VEC_MIN, vecSoftmax } from './wasm/vector.js';

export function softmax(x: FloatArray, rows: number, cols: number, log: boolean, precision: Precision): FloatArray {
  const y = uninitFloat(precision, rows * cols);
  // f32 precision: the SIMD kernel (f32 exps and lane sums; see vector.test.ts for its error bound).
  if (x instanceof Float32Array && y instanceof Float32Array && rows * cols >= VEC_MIN && vecSoftmax(x, y, rows, cols, log)) return y;
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    const e = b + cols;
    let m = -Infinity;
    for (let i = b; i < e; i++) if (x[i] > m) m = x[i];
    let s = 0;
    if (log) {
      for (let i = b; i < e; i++) s += Math.exp(x[i] - m);
      const lse = m + Math.log(s);
      for (let i = b; i < e; i++) y[i] = x[i] - lse;
    } else {
      for (let i = b; i < e; i++) {
        const v = Math.exp(x[i] - m);
        y[i] = v;
        s += v;
      }
      const inv = 1 / s;
      // Rescale from the stored (possibly rounded) exp values; the rounding is below f32 ulp anyway.
      for (let i = b; i < e; i++) y[i] *= inv;
    }
  }
  return y;
}

/** softmax: dx = y (g - sum(g y)); log-softmax: dx = g - exp(y) sum(g). */
export function softmaxBackward(y: FloatArray, g: FloatArray, rows: number, cols: number, log: boolean, precision: Precision): FloatArray {
  const dx = uninitFloat(precision, rows * cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    const e = b + cols;
    let s = 0;
    if (log) {
      for (let i = b; i < e; i++) s += g[i];
      for (let i = b; i < e; i++) dx[i] = g[i] - Math.exp(y[i]) * s;
    } else {
      for (let i = b; i < e; i++) s += g[i] * y[i];
      for (let i = b; i < e; i++) dx[i] = y[i] * (g[i] - s);
    }
  }
  return dx;
}

function checkTarget(kernel: string, t: number, r: number, cols: number): void {
  // Out-of-range targets are a bug in the caller; the oracle throws rather than guessing.
  if (t < 0 || t >= cols) throw new Error(`cpu ${kernel}: target ${t} at row ${r} out of range [0, ${cols})`);
}

function rowLse(x: FloatArray, b: number, cols: number): number {
  let m = -Infinity;
  for (let i = b; i < b + cols; i++) if (x[i] > m) m = x[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = b; i < b + cols; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

export function crossEntropy(x: FloatArray, target: Int32Array, rows: number, cols: number, ignoreIndex: number, precision: Precision): FloatArray {
  const loss = uninitFloat(precision, rows);
  for (let r = 0; r < rows; r++) {
    const t = target[r];
    if (t === ignoreIndex) {
      loss[r] = 0;
      continue;
    }
    checkTarget('crossEntropy', t, r, cols);
    const b = r * cols;
    loss[r] = rowLse(x, b, cols) - x[b + t];
  }
  return loss;
}

export function crossEntropyBackward(
  x: FloatArray, target: Int32Array, gRow: FloatArray, rows: number, cols: number, ignoreIndex: number, precision: Precision,
): FloatArray {
  const dx = uninitFloat(precision, rows * cols);
  for (let r = 0; r < rows; r++) {
    const t = target[r];
    const b = r * cols;
    if (t === ignoreIndex) {
      dx.fill(0, b, b + cols);
      continue;
    }
    checkTarget('crossEntropyBackward', t, r, cols);
    const lse = rowLse(x, b, cols);
    const g = gRow[r];
    for (let i = 0; i < cols; i++) dx[b + i] = (Math.exp(x[b + i] - lse) - (i === t ? 1 : 0)) * g;
  }
  return dx;
}

export function rmsnorm(x: FloatArray, w: FloatArray, rows: number, cols: number, eps: number, precision: Precision): FloatArray {
  const y = uninitFloat(precision, rows * cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    let ss = 0;
    for (let i = 0; i < cols; i++) { const v = x[b + i]; ss += v * v; }
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let i = 0; i < cols; i++) y[b + i] = x[b + i] * inv * w[i];
  }
  return y;
}

/**
 * With s = rsqrt(mean(x^2) + eps): dx_i = s (g_i w_i) - x_i s^3 / cols * sum_j g_j w_j x_j,
 * dw_i = sum over rows of g_i x_i s.
 */
export function rmsnormBackward(
  x: FloatArray, w: FloatArray, g: FloatArray, rows: number, cols: number, eps: number, precision: Precision,
): { dx: FloatArray; dw: FloatArray } {
  const dx = uninitFloat(precision, rows * cols);
  const dwAcc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    let ss = 0;
    let dot = 0;
    for (let i = 0; i < cols; i++) {
      const v = x[b + i];
      ss += v * v;
      dot += g[b + i] * w[i] * v;
    }
    const s = 1 / Math.sqrt(ss / cols + eps);
    const k = (s * s * s * dot) / cols;
    for (let i = 0; i < cols; i++) {
      const v = x[b + i];
      const gi = g[b + i];
      dx[b + i] = s * gi * w[i] - v * k;
      dwAcc[i] += gi * v * s;
    }
  }
  const dw = uninitFloat(precision, cols);
  dw.set(dwAcc);
  return { dx, dw };
}

/** Rotary embedding; the angle table is per (position, pair), shared by every sequence and head. */
export function rope(x: FloatArray, p: RopeParams, precision: Precision): FloatArray {
  const { n, t, h, d, startPos, theta, layout, inverse } = p;
  const half = d >> 1;
  const cos = new Float64Array(t * half);
  const sin = new Float64Array(t * half);
  const sgn = inverse ? -1 : 1;
  for (let ti = 0; ti < t; ti++) {
    const pos = startPos + ti;
    for (let j = 0; j < half; j++) {
      const a = pos * Math.pow(theta, (-2 * j) / d);
      cos[ti * half + j] = Math.cos(a);
      sin[ti * half + j] = sgn * Math.sin(a);
    }
  }
  const y = uninitFloat(precision, x.length);
  // Interleaved pairs (2j, 2j+1); half pairs (j, j + d/2).
  const stride = layout === 'interleaved' ? 2 : 1;
  const partner = layout === 'interleaved' ? 1 : half;
  for (let s = 0; s < n; s++) {
    for (let ti = 0; ti < t; ti++) {
      const tab = ti * half;
      for (let hi = 0; hi < h; hi++) {
        const b = ((s * t + ti) * h + hi) * d;
        for (let j = 0; j < half; j++) {
          const i0 = b + j * stride;
          const i1 = i0 + partner;
          const x0 = x[i0];
          const x1 = x[i1];
          const c = cos[tab + j];
          const sn = sin[tab + j];
          y[i0] = x0 * c - x1 * sn;
          y[i1] = x0 * sn + x1 * c;
        }
      }
    }
  }
  return y;
}
