/**
 * The minimal router output the losses read, and small helpers shared by them. The type is
 * structural on purpose: any mixture layer's RouteResult (e.g. @moegraph/lora's) fits it without
 * this package depending on the layer packages.
 */
import { cast, keep, reshape, tensor, type Backend, type Tensor } from '@moegraph/tensor-webgpu';

export interface RouteLike {
  /** Raw router scores [T, N] (only the z-loss reads them). */
  logits?: Tensor;
  /** Softmax probabilities [T, N]. */
  probs: Tensor;
  /** Selected experts [T, K] (i32), or null for dense routing (weights = probs). */
  indices: Tensor | null;
  /** Combination weights [T, K] (dense: [T, N]). */
  weights: Tensor;
}

/** [..., N] -> [T, N]: every loss here works on flattened tokens. */
export function tokensByExperts(x: Tensor, what: string): Tensor {
  if (x.rank < 1) throw new Error(`${what}: expected a tensor [..., N], got a scalar`);
  const n = x.shape[x.rank - 1]!;
  return x.rank === 2 ? x : reshape(x, [-1, n]);
}

/** A token mask ([T] or any shape with T entries, 0/1, f32 or i32) as f32 [T]. */
export function tokenMask(mask: Tensor, tokens: number, what: string): Tensor {
  if (mask.size !== tokens) throw new Error(`${what}: mask has ${mask.size} entries, expected one per token (${tokens})`);
  const m = mask.rank === 1 ? mask : reshape(mask, [tokens]);
  return m.dtype === 'f32' ? m : cast(m, 'f32');
}

/** A plain number as a rank-0 tensor on `backend`, or the tensor itself. */
export function scalarOn(x: Tensor | number, backend: Backend): Tensor {
  return typeof x === 'number' ? tensor(x, [], { backend }) : x;
}

/**
 * Small constant tables (positions 1..N, log-factorials) cached per backend so a training step
 * uploads nothing; kept out of every scope, since scopes would otherwise free the cached copy.
 */
const tables = new WeakMap<Backend, Map<string, Tensor>>();
export function constantTable(backend: Backend, key: string, make: () => number[]): Tensor {
  let m = tables.get(backend);
  if (!m) tables.set(backend, (m = new Map()));
  let t = m.get(key);
  if (!t || t.isDisposed) {
    const values = make();
    t = keep(tensor(values, [values.length], { backend }));
    m.set(key, t);
  }
  return t;
}

/** 1, 2, ..., n (the rank positions i of Eq. 6-9). */
export const positions = (backend: Backend, n: number): Tensor =>
  constantTable(backend, `pos:${n}`, () => Array.from({ length: n }, (_, i) => i + 1));
