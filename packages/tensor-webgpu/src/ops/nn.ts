/** Neural-network ops with fused kernels: softmax, losses, normalisation, rotary embedding, attention, dropout. */
import { fmtShape, normAxis } from '../shape.js';
import { Generator, hash32 } from '../random.js';
import type { Tensor } from '../tensor.js';
import { backendOf, output, record, requireDType } from './core.js';
import { add, div, maximum, mul, ne, square, sub } from './elementwise.js';
import { keep } from '../scope.js';
import { mean, sum } from './reduce.js';
import { matmul } from './matmul.js';
import { contiguous, reshape, transpose } from './shape.js';
import { tensor } from './create.js';

function rowsCols(x: Tensor): [number, number] {
  const cols = x.shape[x.rank - 1] ?? 1;
  return [x.size / Math.max(cols, 1), cols];
}

function softmaxImpl(x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  requireDType(op, x, ['f32']);
  const a = normAxis(op, axis, x.rank);
  if (a !== x.rank - 1) return transpose(softmaxImpl(transpose(x, a, -1), -1, log), a, -1);
  const [rows, cols] = rowsCols(x);
  const xc = contiguous(x);
  const s = x.backend.softmax(xc.view(op).storage, rows, cols, log);
  if (xc !== x) xc.dispose();
  const out = output(op, s, x.shape, []);
  return record(out, op, [x], (g) => {
    const gc = contiguous(g);
    const d = x.backend.softmaxBackward(out.view(op).storage, gc.view(op).storage, rows, cols, log);
    return [output(op, d, x.shape, [])];
  });
}
export const softmax = (x: Tensor, axis = -1) => softmaxImpl(x, axis, false);
export const logSoftmax = (x: Tensor, axis = -1) => softmaxImpl(x, axis, true);

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (loss 0, no gradient). Default -100, as in PyTorch. */
  ignoreIndex?: number;
  /** 'mean' over non-ignored targets (default), 'sum', or 'none' (per-row losses). */
  reduction?: 'mean' | 'sum' | 'none';
  /** Label smoothing epsilon (default 0: off). */
  labelSmoothing?: number;
}

/**
 * Cross-entropy of logits [..., C] against i32 class targets [...]. A batch whose targets are all
 * ignored has mean loss 0 (PyTorch gives NaN), so fully masked batches do not poison training.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  requireDType(op, logits, ['f32']);
  if (target.dtype !== 'i32') throw new Error(`${op}: targets must be i32 class indices, got ${target.dtype}`);
  const [rows, cols] = rowsCols(logits);
  if (target.size !== rows || target.rank !== logits.rank - 1) {
    throw new Error(`${op}: targets ${fmtShape(target.shape)} do not match logits ${fmtShape(logits.shape)} (expected ${fmtShape(logits.shape.slice(0, -1))})`);
  }
  const ignore = opts.ignoreIndex ?? -100;
  const eps = opts.labelSmoothing ?? 0;
  const be = backendOf(op, logits, target);
  const lc = contiguous(logits);
  const tc = contiguous(target);
  const L = lc.view(op).storage;
  const T = tc.view(op).storage;
  let perRow = output(op, be.crossEntropy(L, T, rows, cols, ignore), target.shape, []);
  perRow = record(perRow, op, [logits], (g) => {
    const gc = contiguous(g);
    const d = be.crossEntropyBackward(L, T, gc.view(op).storage, rows, cols, ignore);
    return [output(op, d, logits.shape, [])];
  });
  const valid = ne(target, ignore);
  if (eps > 0) {
    // (1 - eps) * nll + eps * mean_c(-log p_c), the smoothing term masked like the nll term.
    const smooth = mul(mean(logSoftmax(logits), -1), valid);
    perRow = sub(mul(perRow, 1 - eps), mul(smooth, eps));
  }
  const reduction = opts.reduction ?? 'mean';
  if (reduction === 'none') return perRow;
  const total = sum(perRow);
  if (reduction === 'sum') return total;
  return div(total, maximum(sum(valid), 1));
}

export function mseLoss(a: Tensor, b: Tensor): Tensor {
  return mean(square(sub(a, b)));
}

/** RMSNorm over the last axis: x * rsqrt(mean(x^2) + eps) * weight. */
export function rmsnorm(x: Tensor, weight: Tensor, eps = 1e-5): Tensor {
  const op = 'rmsnorm';
  requireDType(op, x, ['f32']);
  const [rows, cols] = rowsCols(x);
  if (weight.rank !== 1 || weight.shape[0] !== cols) {
    throw new Error(`${op}: weight ${fmtShape(weight.shape)} must be [${cols}] for input ${fmtShape(x.shape)}`);
  }
  const be = backendOf(op, x, weight);
  const xc = contiguous(x);
  const wc = contiguous(weight.dtype === 'f32' ? weight : weight.cast('f32'));
  const out = output(op, be.rmsnorm(xc.view(op).storage, wc.view(op).storage, rows, cols, eps), x.shape, []);
  return record(out, op, [x, weight], (g) => {
    const gc = contiguous(g);
    const r = be.rmsnormBackward(xc.view(op).storage, wc.view(op).storage, gc.view(op).storage, rows, cols, eps);
    const dx = output(op, r.dx, x.shape, []);
    const dw = output(op, r.dw, [cols], []);
    return [dx, weight.requiresGrad ? dw : (dw.dispose(), null)];
  });
}

export interface RopeOptions {
  /** Position of the first row (for decoding with a cache). */
  startPos?: number;
  theta?: number;
  /** 'interleaved' (ggml normal, Meta) or 'half' (Hugging Face / NeoX). */
  layout?: 'interleaved' | 'half';
}

/** Rotary position embedding of x [..., T, H, D] (sequence, heads, head size). */
export function rope(x: Tensor, opts: RopeOptions = {}): Tensor {
  const op = 'rope';
  requireDType(op, x, ['f32']);
  if (x.rank < 3) throw new Error(`${op}: input must be [..., T, H, D], got ${fmtShape(x.shape)}`);
  const [t, h, d] = x.shape.slice(-3) as [number, number, number];
  if (d % 2) throw new Error(`${op}: head size ${d} must be even`);
  const n = x.size / (t * h * d || 1);
  const p = { n, t, h, d, startPos: opts.startPos ?? 0, theta: opts.theta ?? 10000, layout: opts.layout ?? 'interleaved' } as const;
  const xc = contiguous(x);
  const out = output(op, x.backend.rope(xc.view(op).storage, { ...p, inverse: false }), x.shape, []);
  if (xc !== x) xc.dispose();
  return record(out, op, [x], (g) => {
    const gc = contiguous(g);
    return [output(op, x.backend.rope(gc.view(op).storage, { ...p, inverse: true }), x.shape, [])];
  });
}

export interface AttentionOptions {
  /** Mask future positions (default true). */
  causal?: boolean;
  /** Score scale (default 1/sqrt(D)). */
  scale?: number;
  /** Position of the first query relative to the first key (decoding with a cache). */
  queryOffset?: number;
}

const maskCache = new WeakMap<object, Map<string, Tensor>>();

/** Additive causal mask [rows, S] for G query groups of T rows each (row g*T + t sees keys <= t + offset). */
function causalMask(x: Tensor, G: number, T: number, S: number, offset: number): Tensor {
  const be = x.backend;
  let m = maskCache.get(be);
  if (!m) maskCache.set(be, (m = new Map()));
  const key = `${G}:${T}:${S}:${offset}`;
  let t = m.get(key);
  if (!t || t.isDisposed) {
    const a = new Float32Array(G * T * S);
    for (let g = 0; g < G; g++) {
      for (let i = 0; i < T; i++) for (let j = i + offset + 1; j < S; j++) a[(g * T + i) * S + j] = -Infinity;
    }
    t = tensor(a, [G * T, S], { backend: be });
    keep(t);
    if (m.size > 64) {
      // Bounded cache: free the old masks rather than dropping references to live storages.
      for (const old of m.values()) old.dispose();
      m.clear();
    }
    m.set(key, t);
  }
  return t;
}

/**
 * Multi-head attention with grouped KV heads. q [B, H, T, D], k and v [B, Hkv, S, D], H a
 * multiple of Hkv. Query heads h use KV head floor(h / (H / Hkv)), as in Llama. Returns [B, H, T, D].
 * Query groups are folded into the row axis, so K and V are never repeated in memory.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = 'attention';
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new Error(`${op}: expects q [B,H,T,D], k/v [B,Hkv,S,D]; got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  }
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [Bk, Hkv, S, Dk] = k.shape as [number, number, number, number];
  if (Bk !== B || Dk !== D || H % Hkv !== 0 || v.shape[0] !== B || v.shape[1] !== Hkv || v.shape[2] !== S) {
    throw new Error(`${op}: incompatible shapes q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`);
  }
  const G = H / Hkv;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const qg = reshape(q, [B, Hkv, G * T, D]);
  let scores = mul(matmul(qg, transpose(k)), scale);
  if (opts.causal ?? true) scores = add(scores, causalMask(q, G, T, S, opts.queryOffset ?? S - T));
  const out = matmul(softmax(scores), v);
  return reshape(out, [B, H, T, D]);
}

export interface DropoutOptions {
  /** Generator that supplies the mask seed; one seed fixes every mask of a run. */
  generator?: Generator;
  seed?: number;
  training?: boolean;
}

/** Inverted dropout: zero with probability p, scale kept values by 1/(1-p). */
export function dropout(x: Tensor, p: number, opts: DropoutOptions = {}): Tensor {
  if (p < 0 || p >= 1) throw new Error(`dropout: p = ${p} must be in [0, 1)`);
  if (p === 0 || opts.training === false) return x;
  const seed = opts.generator ? opts.generator.nextSeed() : hash32((opts.seed ?? 0) >>> 0);
  const mask = output('dropout', x.backend.dropoutMask(x.size, p, seed), x.shape, []);
  return mul(x, mask);
}
