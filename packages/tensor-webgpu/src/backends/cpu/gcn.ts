/**
 * GCN propagation with node features shared across tokens (gcnShared in backend.ts): per token t
 * and node i, z = base[i, :] + coef[i] q[t, :], out[t, i] = silu(z) . proj. The [t, m, w] node
 * states are never stored: they are rebuilt a few tokens at a time in a scratch block, which is
 * what makes the fusion pay (the unfused graph writes and re-reads them about ten times per step).
 * The TypeScript loops sum over tokens in doubles; the f32 SIMD kernel (vector.wat) sums in f32,
 * as the webgpu kernel does.
 */
import { uninitFloat, type FloatArray, type Precision } from './storage.js';
import { VEC_MIN, vecGcnShared, vecGcnSharedBackward, vecUnary } from './wasm/vector.js';

// In f32 precision every float storage is a Float32Array.
const f32 = (x: FloatArray) => x as Float32Array;

/** Tokens per scratch block: enough floats for the SIMD sigmoid to amortise its call. */
const blockTokens = (m: number, w: number) => Math.max(1, Math.ceil(4096 / Math.max(1, m * w)));

/** z for tokens [t0, t0 + nt) into zs; sig = sigmoid(z) (SIMD in f32, Math.exp in f64). */
function nodes(q: FloatArray, base: FloatArray, coef: FloatArray, t0: number, nt: number, m: number, w: number, zs: FloatArray, sig: FloatArray): void {
  for (let tt = 0; tt < nt; tt++) {
    const qo = (t0 + tt) * w;
    for (let i = 0; i < m; i++) {
      const c = coef[i];
      const zo = (tt * m + i) * w;
      const bo = i * w;
      for (let k = 0; k < w; k++) zs[zo + k] = base[bo + k] + c * q[qo + k];
    }
  }
  const n = nt * m * w;
  const z = zs.subarray(0, n);
  const s = sig.subarray(0, n);
  if (z instanceof Float32Array && s instanceof Float32Array && n >= VEC_MIN && vecUnary('sigmoid', z, s)) return;
  for (let j = 0; j < n; j++) s[j] = 1 / (1 + Math.exp(-z[j]));
}

/** Calls `fn` per block of tokens with its node states z and sigmoid(z), [nt, m, w] each. */
function eachBlock(
  q: FloatArray, base: FloatArray, coef: FloatArray, t: number, m: number, w: number, precision: Precision,
  fn: (t0: number, nt: number, zs: FloatArray, sig: FloatArray) => void,
): void {
  const B = blockTokens(m, w);
  const zs = uninitFloat(precision, B * m * w);
  const sig = uninitFloat(precision, B * m * w);
  for (let t0 = 0; t0 < t; t0 += B) {
    const nt = Math.min(B, t - t0);
    nodes(q, base, coef, t0, nt, m, w, zs, sig);
    fn(t0, nt, zs, sig);
  }
}

export function gcnShared(q: FloatArray, base: FloatArray, coef: FloatArray, proj: FloatArray, t: number, m: number, w: number, precision: Precision): FloatArray {
  // f32: the SIMD kernel (f32 sums); the loops below serve f64 and widths that are not whole vectors.
  const fast = precision === 'f32' && t * m * w >= VEC_MIN ? vecGcnShared(f32(q), f32(base), f32(coef), f32(proj), t, m, w) : null;
  if (fast) return fast;
  const out = uninitFloat(precision, t * m);
  eachBlock(q, base, coef, t, m, w, precision, (t0, nt, zs, sig) => {
    for (let r = 0; r < nt * m; r++) {
      let acc = 0;
      const o = r * w;
      for (let k = 0; k < w; k++) acc += zs[o + k] * sig[o + k] * proj[k];
      out[t0 * m + r] = acc;
    }
  });
  return out;
}

export interface GcnSharedGrads { dq: FloatArray; dbase: FloatArray; dcoefCols: FloatArray; dproj: FloatArray }

/** With gz = g[t, i] proj silu'(z): dq = sum_i coef_i gz, dbase = sum_t gz, dcoefCols = sum_t gz q, dproj = sum_t,i g silu(z). */
export function gcnSharedBackward(
  q: FloatArray, base: FloatArray, coef: FloatArray, proj: FloatArray, g: FloatArray, t: number, m: number, w: number, precision: Precision,
): GcnSharedGrads {
  const fast = precision === 'f32' && t * m * w >= VEC_MIN ? vecGcnSharedBackward(f32(q), f32(base), f32(coef), f32(proj), f32(g), t, m, w) : null;
  if (fast) return fast;
  const dq = uninitFloat(precision, t * w);
  const dbase = new Float64Array(m * w);
  const dcoef = new Float64Array(m * w);
  const dproj = new Float64Array(w);
  eachBlock(q, base, coef, t, m, w, precision, (t0, nt, zs, sig) => {
    for (let tt = 0; tt < nt; tt++) {
      const qo = (t0 + tt) * w;
      dq.fill(0, qo, qo + w);
      for (let i = 0; i < m; i++) {
        const gi = g[(t0 + tt) * m + i];
        const c = coef[i];
        const zo = (tt * m + i) * w;
        const bo = i * w;
        for (let k = 0; k < w; k++) {
          const z = zs[zo + k];
          const s = sig[zo + k];
          const gz = gi * proj[k] * s * (1 + z * (1 - s));
          dq[qo + k] += c * gz;
          dbase[bo + k] += gz;
          dcoef[bo + k] += gz * q[qo + k];
          dproj[k] += gi * z * s;
        }
      }
    }
  });
  const copy = (a: Float64Array) => { const o = uninitFloat(precision, a.length); o.set(a); return o; };
  return { dq, dbase: copy(dbase), dcoefCols: copy(dcoef), dproj: copy(dproj) };
}
