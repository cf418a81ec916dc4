/**
 * Shared by the fused-op tests (ops/*.test.ts): a fused op and the composition of small ops it
 * replaces must give the same value and the same gradient for every input.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { Backend } from '../backend.js';
import { createCpuBackend } from '../backends/cpu/index.js';
import { createWebGPUBackend } from '../backends/webgpu/index.js';
import { Generator } from '../random.js';
import { tensor } from '../ops/create.js';
import { mul } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import type { Tensor } from '../tensor.js';

/**
 * The backends a fused-op test file runs on, as [name, make, tolerance] rows for describe.each: the
 * cpu f64 oracle (tolerance f64Tol), the cpu f32 path and webgpu (tol). The webgpu backend is
 * created before the file's tests and destroyed after them; call this at the file's top level.
 */
export function fusedBackends(tol: number, f64Tol = 1e-12): [string, () => Backend, number][] {
  let gpu: Backend;
  beforeAll(async () => { gpu = await createWebGPUBackend(); });
  afterAll(() => gpu?.destroy());
  return [
    ['cpu f64', () => createCpuBackend({ precision: 'f64' }), f64Tol],
    ['cpu f32', () => createCpuBackend(), tol],
    ['webgpu', () => gpu, tol],
  ];
}

/** Value and every input's gradient of sum(fn(xs) * w) for seeded inputs of `shapes` drawn in [-range, range). */
export async function valuesAndGrads(be: Backend, shapes: number[][], fn: (...xs: Tensor[]) => Tensor, range = 4): Promise<Float32Array[]> {
  const g = new Generator(7);
  const draw = (n: number) => Float32Array.from({ length: n }, () => (g.uniform() * 2 - 1) * range);
  const xs = shapes.map((s) => tensor(draw(s.reduce((p, d) => p * d, 1)), s, { backend: be, requiresGrad: true }));
  const out = fn(...xs);
  const w = tensor(draw(out.size), out.shape, { backend: be });
  sum(mul(out, w)).backward();
  const res = await Promise.all([out, ...xs.map((x) => x.grad!)].map(async (t) => Float32Array.from(await t.data())));
  for (const t of [out, w, ...xs.flatMap((x) => [x, x.grad!])]) t.dispose();
  return res;
}

/** Every entry of a[k] within tol * (1 + |b[k]|) of b[k]. */
export function expectClose(a: Float32Array[], b: Float32Array[], tol: number): void {
  expect(a.map((x) => x.length)).toEqual(b.map((x) => x.length));
  a.forEach((x, k) => x.forEach((v, i) => expect(Math.abs(v - b[k]![i]!), `tensor ${k} [${i}]: ${v} vs ${b[k]![i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(b[k]![i]!)))));
}
