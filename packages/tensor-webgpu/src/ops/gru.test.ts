/**
 * The fused GRU ops against the composition of small ops they replace, on cpu (f32 SIMD path and
 * f64) and webgpu: values and every input's gradient. Finite differences and webgpu-vs-cpu for the
 * fused ops alone are in the conformance suite (testing/cases.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import { createCpuBackend } from '../backends/cpu/index.js';
import { createWebGPUBackend } from '../backends/webgpu/index.js';
import { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { tensor } from './create.js';
import { add, mul, sigmoid, sub, tanh } from './elementwise.js';
import { gruReset, gruUpdate, type GruActivation } from './gru.js';
import { sum } from './reduce.js';

const unfusedReset = (pr: Tensor, h: Tensor) => mul(sigmoid(pr), h);
function unfusedUpdate(pz: Tensor, po: Tensor, b: Tensor, h: Tensor, act: GruActivation): Tensor {
  const z = sigmoid(pz);
  const pre = add(po, b);
  return add(mul(sub(1, z), h), mul(z, act === 'tanh' ? tanh(pre) : sigmoid(pre)));
}

/** Values and gradients of sum(out * w) for random inputs of `shapes`. */
async function run(be: Backend, shapes: number[][], fn: (...xs: Tensor[]) => Tensor): Promise<Float32Array[]> {
  const g = new Generator(7);
  const draw = (n: number) => Float32Array.from({ length: n }, () => g.uniform() * 8 - 4);
  const xs = shapes.map((s) => tensor(draw(s.reduce((p, d) => p * d, 1)), s, { backend: be, requiresGrad: true }));
  const out = fn(...xs);
  const w = tensor(draw(out.size), out.shape, { backend: be });
  sum(mul(out, w)).backward();
  return Promise.all([out, ...xs.map((x) => x.grad!)].map(async (t) => Float32Array.from(await t.data())));
}

function expectClose(a: Float32Array[], b: Float32Array[], tol: number): void {
  a.forEach((x, k) => x.forEach((v, i) => expect(Math.abs(v - b[k]![i]!), `tensor ${k} [${i}]: ${v} vs ${b[k]![i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(b[k]![i]!)))));
}

const RESET: number[][] = [[40, 25], [40, 25]];
const UPDATE: number[][] = [[40, 25], [40, 25], [25], [40, 25]];

let gpu: Backend;
beforeAll(async () => { gpu = await createWebGPUBackend(); });
afterAll(() => gpu?.destroy());

const backends: [string, () => Backend, number][] = [
  ['cpu f64', () => createCpuBackend({ precision: 'f64' }), 1e-12],
  ['cpu f32', () => createCpuBackend(), 1e-5],
  ['webgpu', () => gpu, 1e-5],
];

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
