/**
 * The fused LoRA apply against its unfused composition x W + s (u B), forward and every gradient, on
 * the cpu backend (f32 WASM GEMM and the f64 oracle) and webgpu: edge shapes (r = 1, rows and columns
 * that are not multiples of the 4 x 8 tile, N not a multiple of 4, strided views, f16 weights).
 * loraLinear (u = x A inside the op, the input gradient fused) against x W + s ((x A) B) likewise.
 * Finite differences and webgpu-vs-cpu for this op live in the conformance table (testing/cases.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend.js';
import { createCpuBackend } from '../backends/cpu/index.js';
import { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { noGrad } from '../engine.js';
import { scope } from '../scope.js';
import { fusedBackends } from '../testing/fused.js';
import { add, loraLinear, matmul, matmulAddLowRank, mul, sum, tensor, transpose } from './index.js';

const backends = fusedBackends(2e-5);
const gpu = () => backends[2]![1]();

function rand(be: Backend, shape: number[], g: Generator): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tensor(Float32Array.from({ length: n }, () => g.uniform() * 2 - 1), shape, { backend: be }).requireGrad();
}

/** Forward value and gradients of all four inputs under a fixed random output weighting. */
async function run(be: Backend, f: (x: Tensor, w: Tensor, u: Tensor, b: Tensor) => Tensor, shapes: number[][], wT: boolean) {
  const g = new Generator(7);
  const [x, w, u, b] = shapes.map((s) => rand(be, s, g)) as [Tensor, Tensor, Tensor, Tensor];
  const y = f(x, wT ? transpose(w) : w, u, b);
  const weights = rand(be, [...y.shape], g).detach();
  sum(mul(y, weights)).backward();
  const out = await Promise.all([y, x.grad!, w.grad!, u.grad!, b.grad!].map((t) => t.data()));
  for (const t of [x, w, u, b, y, weights]) t.dispose();
  return out;
}

const S = 0.75;
const fused = (x: Tensor, w: Tensor, u: Tensor, b: Tensor) => matmulAddLowRank(x, w, u, b, S);
const unfused = (x: Tensor, w: Tensor, u: Tensor, b: Tensor) => add(matmul(x, w), mul(matmul(u, b), S));

// [M, K, N, r, w given transposed]; leading dims [2, M/2] when M is even.
const shapes: [number, number, number, number, boolean][] = [
  [1, 1, 1, 1, false],
  [5, 7, 3, 1, false],
  [13, 17, 9, 2, false],
  [8, 16, 32, 4, false],
  [33, 20, 44, 16, false],
  [70, 64, 36, 8, true],
  [6, 12, 10, 5, true],
];

const fusedLinear = (x: Tensor, w: Tensor, a: Tensor, b: Tensor) => loraLinear(x, w, a, b, S);
const unfusedLinear = (x: Tensor, w: Tensor, a: Tensor, b: Tensor) => add(matmul(x, w), mul(matmul(matmul(x, a), b), S));

// Each op with its reference and the shape of its third input: u [..., r] or a [K, r].
const ops: [string, typeof fused, typeof fused, (lead: number[], K: number, r: number) => number[]][] = [
  ['matmulAddLowRank', fused, unfused, (lead, _K, r) => [...lead, r]],
  ['loraLinear', fusedLinear, unfusedLinear, (_lead, K, r) => [K, r]],
];

describe.each(ops)('%s matches its unfused composition', (_op, f, ref, third) => {
  describe.each(backends)('on %s', (_name, make, tol) => {
    it.each(shapes)('M %i K %i N %i r %i (w transposed: %s)', async (M, K, N, r, wT) => {
      const be = make();
      const lead = M % 2 === 0 ? [2, M / 2] : [M];
      const sh = [[...lead, K], wT ? [N, K] : [K, N], third(lead, K, r), [r, N]];
      const got = await run(be, f, sh, wT);
      const want = await run(be, ref, sh, wT);
      got.forEach((a, k) => {
        const scale = Math.max(1, ...Array.from(want[k]!, Math.abs));
        const err = Math.max(0, ...Array.from(a, (v, i) => Math.abs(v - want[k]![i]!)));
        expect(err / scale, `output ${k} (0 y, 1 dx, 2 dw, 3 du or dA, 4 db)`).toBeLessThan(tol);
      });
    });
  });
});

describe('matmulAddLowRank errors and edge cases', () => {
  const cpu = createCpuBackend();
  const t = (shape: number[]) => tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)), shape, { backend: cpu });
  it('names the shapes when they do not fit', () => {
    expect(() => matmulAddLowRank(t([4, 5]), t([6, 3]), t([4, 2]), t([2, 3]), 1)).toThrow(/x \[4, 5\], w \[6, 3\], u \[4, 2\], b \[2, 3\]/);
    expect(() => matmulAddLowRank(t([4, 5]), t([5, 3]), t([3, 2]), t([2, 3]), 1)).toThrow(/u \[3, 2\]/);
    expect(() => loraLinear(t([4, 5]), t([5, 3]), t([4, 2]), t([2, 3]), 1)).toThrow('loraLinear: expects x [..., K], w [K, N], a [K, r], b [r, N]; got x [4, 5], w [5, 3], a [4, 2], b [2, 3]');
  });
  it('loraLinear keeps u only while a backward needs it', () => {
    const g = new Generator(3);
    const [x, w, a, b] = [[3, 4], [4, 5], [4, 2], [2, 5]].map((sh) => rand(cpu, sh, g));
    const live = () => cpu.stats().liveStorages;
    const step = () => {
      scope(() => sum(loraLinear(x!, w!, a!, b!, 2)).backward());
      for (const t of [x, w, a, b]) { t!.grad!.dispose(); t!.grad = null; }
    };
    step(); // creates the cached constant storage of the scale
    const before = live();
    noGrad(() => loraLinear(x!, w!, a!, b!, 2)).dispose();
    expect(live()).toBe(before);
    step();
    expect(live()).toBe(before);
  });
  it('K = 0 gives s u B', async () => {
    const u = tensor([1, 2], [1, 2], { backend: cpu });
    const b = tensor([3, 4], [2, 1], { backend: cpu });
    expect(Array.from(await matmulAddLowRank(t([1, 0]), t([0, 1]), u, b, 2).data())).toEqual([22]);
  });
  it('accepts an f16 base weight on both backends', async () => {
    for (const be of [cpu, gpu()]) {
      const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], { backend: be });
      const w = tensor([1, 0.5, -1, 2, 0, 1, 0.25, -0.5], [4, 2], { backend: be }).cast('f16');
      const u = tensor([1, -1], [2, 1], { backend: be });
      const b = tensor([2, 3], [1, 2], { backend: be });
      // x W = [[0, 5.5], [1, 17.5]]; s u B with s = 0.5 adds [[1, 1.5], [-1, -1.5]].
      expect(Array.from(await matmulAddLowRank(x, w, u, b, 0.5).data())).toEqual([1, 7, 0, 16]);
    }
  });
});
