/** gcnShared against its unfused composition on both backends, at the graph router's sizes, and its errors. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import { createCpuBackend } from '../backends/cpu/index.js';
import { createWebGPUBackend } from '../backends/webgpu/index.js';
import { setVectorKernelForTest } from '../backends/cpu/wasm/vector.js';
import { randn } from './create.js';
import { add, mul, silu } from './elementwise.js';
import { gcnShared } from './gcn.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';
import { reshape, unsqueeze } from './shape.js';
import type { Tensor } from '../tensor.js';

const unfused = (q: Tensor, base: Tensor, coef: Tensor, proj: Tensor) => {
  const [t, w] = q.shape as [number, number];
  const m = base.shape[0]!;
  const z = add(unsqueeze(base, 0), mul(unsqueeze(q, 1), reshape(coef, [1, m, 1])));
  return reshape(matmul(reshape(silu(z), [t * m, w]), reshape(proj, [w, 1])), [t, m]);
};

async function both(be: Backend, T: number, M: number, W: number) {
  const mk = (shape: number[], seed: number, std = 1) => randn(shape, { backend: be, seed, std, requiresGrad: true });
  const ins = [mk([T, W], 1), mk([M, W], 2), mk([M], 3, 0.3), mk([W], 4, 0.1)];
  const c = randn([T, M], { backend: be, seed: 5 });
  const run = async (fn: typeof gcnShared) => {
    for (const x of ins) x.grad = null;
    const y = fn(ins[0]!, ins[1]!, ins[2]!, ins[3]!);
    sum(mul(y, c)).backward();
    return [await y.data(), ...(await Promise.all(ins.map((x) => x.grad!.data())))];
  };
  return { fused: await run(gcnShared), ref: await run(unfused) };
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1e-4 + 1e-4 * Math.abs(b[i]!)));
  expect(a.length, what).toBe(b.length);
  expect(worst, what).toBeLessThanOrEqual(1);
}

const names = ['out', 'dq', 'dbase', 'dcoef', 'dproj'];
let gpu: Backend;
beforeAll(async () => { gpu = await createWebGPUBackend(); });
afterAll(() => gpu?.destroy());

describe('gcnShared equals silu(base + coef q) . proj', () => {
  for (const [name, get] of [['cpu', () => createCpuBackend()], ['webgpu', () => gpu]] as const) {
    it(`${name}, router sizes T=300 M=9 w=256`, async () => {
      const { fused, ref } = await both(get(), 300, 9, 256);
      fused.forEach((f, i) => expectClose(f, ref[i]!, `${name} ${names[i]}`));
    });
  }
  it('cpu: the SIMD kernel matches the TypeScript loops', async () => {
    const simd = await both(createCpuBackend(), 40, 9, 32);
    setVectorKernelForTest(null);
    try {
      const plain = await both(createCpuBackend(), 40, 9, 32);
      simd.fused.forEach((f, i) => expectClose(f, plain.fused[i]!, `simd vs plain ${names[i]}`));
    } finally {
      setVectorKernelForTest(undefined);
    }
  });
  it('webgpu matches cpu at router sizes', async () => {
    const a = await both(createCpuBackend(), 200, 9, 64);
    const b = await both(gpu, 200, 9, 64);
    a.fused.forEach((f, i) => expectClose(b.fused[i]!, f, `webgpu vs cpu ${names[i]}`));
  });
  it('names the shapes when they do not fit', () => {
    const be = createCpuBackend();
    const z = (s: number[]) => randn(s, { backend: be });
    expect(() => gcnShared(z([4, 6]), z([3, 5]), z([3]), z([6]))).toThrow(/base \[3, 5\]/);
    expect(() => gcnShared(z([4, 6]), z([3, 6]), z([4]), z([6]))).toThrow(/coef \[4\]/);
  });
});
