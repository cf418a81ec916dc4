/** Matrix products with numpy semantics (1-D promotion, broadcast batch dims). */
import type { Storage, View } from '../backend.js';
import { broadcastShapes, contiguousStrides, fmtShape, type Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, expandView, output, record, sumToShape } from './core.js';
import { add } from './elementwise.js';
import { sum } from './reduce.js';
import { squeeze, transpose, unsqueeze, viewStrides } from './shape.js';

/** View t as [B, rows, cols] after broadcasting its batch dims; copies only when no view exists. */
function as3d(t: Tensor, batch: Shape, B: number): { v: View; tmp: Storage | null } {
  const r = t.shape[t.rank - 2]!;
  const c = t.shape[t.rank - 1]!;
  const e = expandView('matmul', t.view('matmul'), [...batch, r, c]);
  const st = viewStrides(e.shape, e.strides, [B, r, c]);
  if (st) return { v: { ...e, shape: [B, r, c], strides: st }, tmp: null };
  const tmp = t.backend.copy(e, t.dtype);
  return { v: { storage: tmp, shape: [B, r, c], strides: contiguousStrides([B, r, c]), offset: 0 }, tmp };
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) throw new Error('matmul: scalars are not matrices; use mul');
  if (a.rank === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.rank === 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const M = a.shape[a.rank - 2]!;
  const K = a.shape[a.rank - 1]!;
  const N = b.shape[b.rank - 1]!;
  if (b.shape[b.rank - 2] !== K) {
    throw new Error(`matmul: inner dims differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${K} vs ${b.shape[b.rank - 2]})`);
  }
  for (const t of [a, b]) {
    if (t.dtype === 'i32') throw new Error(`matmul: integer tensor ${fmtShape(t.shape)}; cast to f32`);
  }
  const be = backendOf('matmul', a, b);
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const B = batch.reduce((p, d) => p * d, 1);
  const A3 = as3d(a, batch, B);
  const B3 = as3d(b, batch, B);
  const s = be.matmul(A3.v, B3.v);
  if (A3.tmp) be.release(A3.tmp);
  if (B3.tmp) be.release(B3.tmp);
  const out = output('matmul', s, [...batch, M, N], []);
  return record(out, 'matmul', [a, b], (g) => [
    a.requiresGrad ? sumToShape(matmul(g, transpose(b)), a.shape, sum) : null,
    b.requiresGrad ? sumToShape(matmul(transpose(a), g), b.shape, sum) : null,
  ]);
}

/** PyTorch's linear layout: x [..., in] @ w[out, in]^T (+ bias [out]). */
export function linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  const y = matmul(x, transpose(w));
  return bias ? add(y, bias) : y;
}
