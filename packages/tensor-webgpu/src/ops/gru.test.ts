/**
 * The fused GRU ops against the composition of small ops they replace, on cpu (f32 SIMD path and
 * f64) and webgpu: values and every input's gradient. Finite differences and webgpu-vs-cpu for the
 * fused ops alone are in the conformance suite (testing/cases.ts).
 */
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../backends/cpu/index.js';
import type { Tensor } from '../tensor.js';
import { expectClose, valuesAndGrads as run, fusedBackends } from '../testing/fused.js';
import { tensor } from './create.js';
import { add, mul, sigmoid, sub, tanh } from './elementwise.js';
import { gruReset, gruUpdate, type GruActivation } from './gru.js';

const unfusedReset = (pr: Tensor, h: Tensor) => mul(sigmoid(pr), h);
function unfusedUpdate(pz: Tensor, po: Tensor, b: Tensor, h: Tensor, act: GruActivation): Tensor {
  const z = sigmoid(pz);
  const pre = add(po, b);
  return add(mul(sub(1, z), h), mul(z, act === 'tanh' ? tanh(pre) : sigmoid(pre)));
}

const RESET: number[][] = [[40, 25], [40, 25]];
const UPDATE: number[][] = [[40, 25], [40, 25], [25], [40, 25]];

const backends = fusedBackends(1e-5);

describe.each(backends)('fused GRU ops equal the unfused composition (%s)', (_, make, tol) => {
  it('gruReset', async () => {
    const be = make();
    expectClose(await run(be, RESET, gruReset), await run(be, RESET, unfusedReset), tol);
  });
  it.each(['tanh', 'sigmoid'] as const)('gruUpdate %s', async (act) => {
    const be = make();
    const fused = await run(be, UPDATE, (z, o, b, h) => gruUpdate(z!, o!, b!, h!, act));
    expectClose(fused, await run(be, UPDATE, (z, o, b, h) => unfusedUpdate(z!, o!, b!, h!, act)), tol);
  });
});

describe('fused GRU op errors name the shapes', () => {
  const be = createCpuBackend();
  const t = (...s: number[]) => tensor(new Float32Array(s.reduce((p, d) => p * d, 1)), s, { backend: be });
  it('rejects mismatched operands', () => {
    expect(() => gruReset(t(2, 3), t(3, 2))).toThrow('gruReset: h [3, 2] does not match pr [2, 3]');
    expect(() => gruUpdate(t(2, 3), t(2, 3), t(2), t(2, 3))).toThrow('gruUpdate: bias [2] must be [3] for pz [2, 3]');
    expect(() => gruUpdate(t(2, 3), t(2, 3), t(3), t(2, 3), 'relu' as GruActivation)).toThrow("act must be 'tanh' or 'sigmoid'");
  });
});
