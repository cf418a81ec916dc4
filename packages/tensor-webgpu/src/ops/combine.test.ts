/**
 * The fused mixture-of-experts combine against the composition it replaces, sum over K of
 * v [T, K, d] * w [T, K, 1], on cpu (f64 and f32) and webgpu: value and both gradients, over shapes
 * that take each webgpu backward variant (a thread per pair row, a workgroup per pair row).
 * Finite differences and webgpu-vs-cpu for the op alone are in the conformance table (testing/cases.ts).
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../backends/cpu/index.js';
import type { Tensor } from '../tensor.js';
import { expectClose, valuesAndGrads, fusedBackends } from '../testing/fused.js';
import { combineRows } from './combine.js';
import { tensor } from './create.js';
import { mul } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape, transpose, unsqueeze } from './shape.js';

function unfused(v: Tensor, w: Tensor): Tensor {
  const [T, K] = w.shape as [number, number];
  return sum(mul(reshape(v, [T, K, v.shape[1]!]), unsqueeze(w, -1)), 1);
}

const backends = fusedBackends(1e-5);

// [T, K, d]: K = 1; d = 1; d below and above a 32-element segment; few long rows (a workgroup per
// row on webgpu); many short rows (a thread per row); the benchmark block's top-2 of d 256.
const shapes: [number, number, number][] = [[3, 1, 5], [4, 3, 1], [5, 2, 33], [3, 4, 100], [300, 2, 70], [64, 2, 256]];

describe.each(backends)('combineRows on %s equals sum_k w[t, k] v[t*K + k]', (_, make, tol) => {
  it.each(shapes)('T %i K %i d %i', async (T, K, d) => {
    const be = make();
    const sh = [[T * K, d], [T, K]];
    expectClose(await valuesAndGrads(be, sh, combineRows), await valuesAndGrads(be, sh, unfused), tol);
  });
  it('reads a transposed v through a contiguous copy', async () => {
    const be = make();
    const f = (fn: (v: Tensor, w: Tensor) => Tensor) => (vt: Tensor, w: Tensor) => fn(transpose(vt), w);
    const sh = [[9, 6], [3, 2]];
    expectClose(await valuesAndGrads(be, sh, f(combineRows)), await valuesAndGrads(be, sh, f(unfused)), tol);
  });
});

describe('combineRows errors name the shapes', () => {
  const be = createCpuBackend();
  const t = (...s: number[]) => tensor(new Float32Array(s.reduce((p, d) => p * d, 1)), s, { backend: be });
  it('rejects v whose rows are not T*K', () => {
    expect(() => combineRows(t(5, 4), t(2, 2))).toThrow('combineRows: expects v [T*K, d] and w [T, K]; got v [5, 4], w [2, 2]');
    expect(() => combineRows(t(2, 2, 4), t(2, 2))).toThrow('got v [2, 2, 4], w [2, 2]');
    expect(() => combineRows(t(4, 4), t(4))).toThrow('got v [4, 4], w [4]');
  });
});
