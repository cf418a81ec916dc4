/**
 * Fused GRU cell kernels (backend.ts: gruReset, gruUpdate and their gradients) on plain arrays.
 * In f32 the sigmoids and tanhs go through the WASM SIMD helpers (Math.exp is the bulk of the cost
 * otherwise) into scratch arrays, then one JS loop combines them; f64 uses Math throughout, so it
 * stays an exact oracle for finite differences.
 */
import type { GruActivation } from '../../backend.js';
import { recycle, uninitFloat, type FloatArray, type Precision } from './storage.js';
import { VEC_MIN, vecUnary } from './wasm/vector.js';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** o[i] = act(x[i] + (b ? b[i % cols] : 0)); x is only read. */
function activate(act: GruActivation, x: FloatArray, o: FloatArray, b: FloatArray | null, cols: number): void {
  const n = x.length;
  let src = x;
  if (b) {
    src = o;
    for (let i = 0; i < n; i++) o[i] = x[i]! + b[i % cols]!;
  }
  if (n >= VEC_MIN && src instanceof Float32Array && o instanceof Float32Array && vecUnary(act, src, o)) return;
  if (act === 'tanh') for (let i = 0; i < n; i++) o[i] = Math.tanh(src[i]!);
  else for (let i = 0; i < n; i++) o[i] = sigmoid(src[i]!);
}

/** A scratch array holding act(x + b). */
function activated(p: Precision, act: GruActivation, x: FloatArray, b: FloatArray | null, cols: number): FloatArray {
  const o = uninitFloat(p, x.length);
  activate(act, x, o, b, cols);
  return o;
}

export function gruReset(p: Precision, pr: FloatArray, h: FloatArray): FloatArray {
  const o = activated(p, 'sigmoid', pr, null, 1);
  for (let i = 0; i < o.length; i++) o[i] = o[i]! * h[i]!;
  return o;
}

export function gruResetBackward(p: Precision, pr: FloatArray, h: FloatArray, g: FloatArray): { dpr: FloatArray; dh: FloatArray } {
  const r = activated(p, 'sigmoid', pr, null, 1);
  const dpr = uninitFloat(p, r.length);
  for (let i = 0; i < r.length; i++) {
    const ri = r[i]!;
    dpr[i] = g[i]! * h[i]! * ri * (1 - ri);
    r[i] = g[i]! * ri;
  }
  return { dpr, dh: r };
}

export function gruUpdate(
  p: Precision, pz: FloatArray, po: FloatArray, b: FloatArray, h: FloatArray, cols: number, act: GruActivation,
): FloatArray {
  const z = activated(p, 'sigmoid', pz, null, 1);
  const c = activated(p, act, po, b, cols);
  for (let i = 0; i < z.length; i++) {
    const hi = h[i]!;
    z[i] = hi + z[i]! * (c[i]! - hi);
  }
  recycle(c);
  return z;
}

export function gruUpdateBackward(
  p: Precision, pz: FloatArray, po: FloatArray, b: FloatArray, h: FloatArray, g: FloatArray, cols: number, act: GruActivation,
): { dpz: FloatArray; dpo: FloatArray; dh: FloatArray } {
  const dpz = activated(p, 'sigmoid', pz, null, 1);
  const dpo = activated(p, act, po, b, cols);
  const dh = uninitFloat(p, dpz.length);
  for (let i = 0; i < dpz.length; i++) {
    const z = dpz[i]!;
    const c = dpo[i]!;
    const gi = g[i]!;
    // Both activations' derivatives are functions of their outputs: 1 - c^2 and c (1 - c).
    const dc = act === 'tanh' ? 1 - c * c : c * (1 - c);
    dpz[i] = gi * (c - h[i]!) * z * (1 - z);
    dpo[i] = gi * z * dc;
    dh[i] = gi * (1 - z);
  }
  return { dpz, dpo, dh };
}
