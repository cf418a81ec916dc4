/**
 * The LoRA apply y = x W + s (u B) as one op, u = x_d A computed by the caller's matmul (it is
 * [.., r], tiny). Unfused, the low-rank term costs three full-size outputs (u B, its scaling, the
 * sum) and as many passes; here the backend writes y once (backend.matmulAddLowRank).
 * loraLinear is the whole LoRA linear without dropout, so that its input gradient is fused too.
 */
import { fmtShape, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import type { View } from '../backend.js';
import { isGradEnabled, noGrad } from '../engine.js';
import { backendOf, output, record, requireDType } from './core.js';
import { add, mul } from './elementwise.js';
import { matmul } from './matmul.js';
import { contiguous, reshape, transpose } from './shape.js';

/** t [..., c] as a [rows, c] view of a contiguous tensor (the caller disposes it when it is not t). */
function rows2d(op: string, t: Tensor, rows: number): { c: Tensor; v: View } {
  const c = contiguous(t);
  const v = c.view(op);
  const cols = t.shape[t.rank - 1]!;
  return { c, v: { storage: v.storage, shape: [rows, cols], strides: [cols, 1], offset: v.offset } };
}

/** t [..., c] as [M, c]: batched leading dims fold into rows for weight gradients, [M, K]ᵀ @ [M, N]. */
function rows(t: Tensor, M: number): Tensor {
  return reshape(t, [M, t.shape[t.rank - 1]!]);
}

/**
 * x [..., K] @ w [K, N] + s * (u [..., r] @ b [r, N]) -> [..., N]; x and u share leading dims.
 * x, u, b f32; w f32 or f16 (a frozen base weight, any view). Gradients: dx = g wᵀ,
 * dw = xᵀ g, du = s g bᵀ, db = s uᵀ g, each only where its input requires grad.
 */
export function matmulAddLowRank(x: Tensor, w: Tensor, u: Tensor, b: Tensor, s: number): Tensor {
  const op = 'matmulAddLowRank';
  for (const t of [x, u, b]) requireDType(op, t, ['f32']);
  requireDType(op, w, ['f32', 'f16']);
  const shapes = `x ${fmtShape(x.shape)}, w ${fmtShape(w.shape)}, u ${fmtShape(u.shape)}, b ${fmtShape(b.shape)}`;
  if (x.rank < 1 || u.rank !== x.rank || w.rank !== 2 || b.rank !== 2) {
    throw new Error(`${op}: expects x [..., K], w [K, N], u [..., r], b [r, N]; got ${shapes}`);
  }
  const [K, N] = w.shape as [number, number];
  const [r, Nb] = b.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.rank - 1] !== K || u.shape[u.rank - 1] !== r || Nb !== N || !shapesEqual(lead, u.shape.slice(0, -1))) {
    throw new Error(`${op}: shapes do not match x [..., K] @ w [K, N] + u [..., r] @ b [r, N]: ${shapes}`);
  }
  if (!Number.isFinite(s)) throw new Error(`${op}: scale must be finite, got ${s}`);
  // An empty inner dim leaves nothing to fuse (and the webgpu kernel needs K, r >= 1).
  if (K === 0 || r === 0) return add(matmul(x, w), mul(matmul(u, b), s));
  const be = backendOf(op, x, w, u, b);
  const M = lead.reduce((p, d) => p * d, 1);
  const X = rows2d(op, x, M);
  const U = rows2d(op, u, M);
  const st = be.matmulAddLowRank(X.v, w.view(op), U.v, b.view(op), s);
  if (X.c !== x) X.c.dispose();
  if (U.c !== u) U.c.dispose();
  const out = output(op, st, [...lead, N], []);
  const flat = (t: Tensor) => rows(t, M);
  return record(out, op, [x, w, u, b], (g) => [
    x.requiresGrad ? matmul(g, transpose(w)) : null,
    w.requiresGrad ? matmul(transpose(flat(x)), flat(g)) : null,
    u.requiresGrad ? mul(matmul(g, transpose(b)), s) : null,
    b.requiresGrad ? mul(matmul(transpose(flat(u)), flat(g)), s) : null,
  ]);
}

/**
 * The LoRA linear without dropout: x [..., K] @ w [K, N] + s * ((x @ a [K, r]) @ b [r, N]) -> [..., N].
 * Forward as matmulAddLowRank with u = x a. Its own gradient so that x's is fused as well:
 * dx = g wᵀ + (s g bᵀ) aᵀ is one matmulAddLowRank over the transposed views, where autograd through
 * the two-op form writes two full [.., K] products and their sum. Only u = x a ([.., r]) is kept.
 * da = xᵀ gu, db = s uᵀ g, dw = xᵀ g, with gu = s g bᵀ, each only where its input requires grad.
 */
export function loraLinear(x: Tensor, w: Tensor, a: Tensor, b: Tensor, s: number): Tensor {
  const op = 'loraLinear';
  const K = w.shape[0];
  if (x.rank < 1 || w.rank !== 2 || a.rank !== 2 || b.rank !== 2 || x.shape[x.rank - 1] !== K || a.shape[0] !== K ||
    b.shape[0] !== a.shape[1] || b.shape[1] !== w.shape[1]) {
    throw new Error(`${op}: expects x [..., K], w [K, N], a [K, r], b [r, N]; got x ${fmtShape(x.shape)}, w ${fmtShape(w.shape)}, a ${fmtShape(a.shape)}, b ${fmtShape(b.shape)}`);
  }
  requireDType(op, a, ['f32']);
  const tracked = isGradEnabled() && [x, w, a, b].some((t) => t.requiresGrad);
  const { u, y } = noGrad(() => {
    const u = matmul(x, a);
    return { u, y: matmulAddLowRank(x, w, u, b, s) };
  });
  // u is only needed by db; otherwise it is freed now rather than with the caller's scope.
  if (!tracked || !b.requiresGrad) u.dispose();
  if (!tracked) return y;
  const M = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  return record(y, op, [x, w, a, b], (g) => {
    const gu = x.requiresGrad || a.requiresGrad ? mul(matmul(g, transpose(b)), s) : null;
    return [
      x.requiresGrad ? matmulAddLowRank(g, transpose(w), gu!, transpose(a), 1) : null,
      w.requiresGrad ? matmul(transpose(rows(x, M)), rows(g, M)) : null,
      a.requiresGrad ? matmul(transpose(rows(x, M)), rows(gu!, M)) : null,
      b.requiresGrad ? mul(matmul(transpose(rows(u, M)), rows(g, M)), s) : null,
    ];
  });
}
