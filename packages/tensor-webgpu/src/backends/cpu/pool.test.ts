import { describe, expect, it } from 'vitest';
import type { DType } from '../../dtype.js';
import type { Storage, View } from '../../backend.js';
import { Generator } from '../../random.js';
import { contiguousStrides } from '../../shape.js';
import { reshape } from '../../ops/shape.js';
import { add } from '../../ops/elementwise.js';
import { Tensor } from '../../tensor.js';
import { CpuBackend, CpuStorage, createCpuBackend, type Precision } from './index.js';
import { ArrayPool } from './storage.js';

const view = (s: Storage, shape: number[], strides = contiguousStrides(shape), offset = 0): View => ({ storage: s, shape, strides, offset });
const full = (s: Storage): View => view(s, [s.size]);
const dataOf = (s: Storage) => (s as CpuStorage).data;

function rand(n: number, seed: number): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => g.uniform() * 2 - 1);
}

describe('cpu ArrayPool', () => {
  it('hands back the most recently given array of the same type and length', () => {
    const p = new ArrayPool(1 << 20);
    const a = new Float32Array(8);
    const b = new Float32Array(8);
    p.give(a);
    p.give(b);
    expect(p.bytes).toBe(64);
    expect(p.take(Float64Array, 8)).toBeNull();
    expect(p.take(Float32Array, 7)).toBeNull();
    expect(p.take(Float32Array, 8)).toBe(b);
    expect(p.take(Float32Array, 8)).toBe(a);
    expect(p.take(Float32Array, 8)).toBeNull();
    expect(p.bytes).toBe(0);
  });

  it('never holds more than its cap, dropping the least recently given arrays first', () => {
    const p = new ArrayPool(100);
    const arrays = [new Float32Array(10), new Int32Array(10), new Float32Array(10)];
    for (const a of arrays) {
      p.give(a);
      expect(p.bytes).toBeLessThanOrEqual(100);
    }
    expect(p.bytes).toBe(80);
    expect(p.take(Int32Array, 10)).toBe(arrays[1]);
    expect(p.take(Float32Array, 10)).toBe(arrays[2]);
    expect(p.take(Float32Array, 10)).toBeNull();
    p.give(new Float64Array(13)); // 104 bytes: larger than the whole cap
    expect(p.bytes).toBe(0);
  });

  it('refuses subarrays, which share memory with a larger array, and arrays given twice', () => {
    const p = new ArrayPool(1 << 20);
    const big = new Float32Array(16);
    p.give(big.subarray(0, 8));
    p.give(big.subarray(8));
    expect(p.bytes).toBe(0);
    p.give(big);
    expect(() => p.give(big)).toThrow(/returned to the pool twice/);
  });
});

describe('cpu backend: storage reuse', () => {
  it('a released storage array backs the next output of the same dtype and length', () => {
    for (const precision of ['f32', 'f64'] as const) {
      const be = createCpuBackend({ precision });
      const a = be.upload([1, 2, 3], 'f32');
      const arr = dataOf(a);
      expect(arr).toBeInstanceOf(precision === 'f64' ? Float64Array : Float32Array);
      be.release(a);
      expect(be.stats().pooledBytes).toBe(precision === 'f64' ? 24 : 12);
      // an i32 output of the same length needs another array type
      const i = be.fill(3, 'i32', 7);
      expect(dataOf(i)).not.toBe(arr);
      const b = be.unary('exp', view(be.upload([0, 0, 0, 0], 'f32'), [3]));
      expect(dataOf(b)).toBe(arr);
      expect(Array.from(be.readSync(full(b)))).toEqual([1, 1, 1]);
      expect(be.stats().pooledBytes).toBe(0);
    }
  });

  it('counts free arrays in pooledBytes only, and keeps nothing with maxPooledBytes 0 or after destroy', () => {
    const be = createCpuBackend();
    const a = be.fill(100, 'f32', 1);
    const b = be.fill(50, 'i32', 1);
    expect(be.stats()).toMatchObject({ liveStorages: 2, bytesInUse: 600, pooledBytes: 0 });
    be.release(a);
    expect(be.stats()).toMatchObject({ liveStorages: 1, bytesInUse: 200, pooledBytes: 400 });
    be.release(b);
    expect(be.stats()).toMatchObject({ liveStorages: 0, bytesInUse: 0, pooledBytes: 600 });
    be.destroy();
    expect(be.stats().pooledBytes).toBe(0);

    const none = createCpuBackend({ maxPooledBytes: 0 });
    const c = none.fill(100, 'f32', 1);
    const arr = dataOf(c);
    none.release(c);
    expect(none.stats().pooledBytes).toBe(0);
    expect(dataOf(none.fill(100, 'f32', 2))).not.toBe(arr);
    expect(() => createCpuBackend({ maxPooledBytes: -1 })).toThrow(/maxPooledBytes/);
  });

  it('respects maxPooledBytes across many releases', () => {
    const be = createCpuBackend({ maxPooledBytes: 1000 });
    const olds = [be.fill(100, 'f32', 0), be.fill(100, 'f32', 0), be.fill(100, 'f32', 0)];
    const arrays = olds.map(dataOf);
    for (const s of olds) {
      be.release(s);
      expect(be.stats().pooledBytes).toBeLessThanOrEqual(1000);
    }
    // the first released array was dropped; the two later ones are reused, newest first
    expect(dataOf(be.fill(100, 'f32', 0))).toBe(arrays[2]);
    expect(dataOf(be.fill(100, 'f32', 0))).toBe(arrays[1]);
    expect(dataOf(be.fill(100, 'f32', 0))).not.toBe(arrays[0]);
  });

  it('a view keeps its storage alive after the tensor it was taken from is disposed', () => {
    const be = createCpuBackend();
    const x = Tensor.fromStorage(be.upload([1, 2, 3, 4, 5, 6], 'f32'), [2, 3]);
    const v = reshape(x, [3, 2]);
    x.dispose();
    expect(be.stats().pooledBytes).toBe(0);
    // outputs of the same length must not take the shared array
    const others = Array.from({ length: 4 }, () => add(v, v));
    expect(Array.from(v.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    for (const o of others) expect(Array.from(o.dataSync())).toEqual([2, 4, 6, 8, 10, 12]);
    v.dispose();
    for (const o of others) o.dispose();
    expect(be.stats().liveStorages).toBe(0);
  });
});

/**
 * Every kernel on a backend whose pool holds only garbage-filled arrays of the output's length must
 * give bit for bit what it gives with fresh (zeroed) arrays: a kernel that accumulates into its
 * output or skips elements (scatter-adds, unused experts, ignored rows, dropped elements, K = 0)
 * must zero what it reuses.
 */
describe('cpu backend: kernels on reused, garbage-filled arrays', () => {
  const [m, k, n, e] = [7, 5, 3, 4];
  const idx = [2, 0, 2, 2, 3, 0, 2];
  type Run = (be: CpuBackend, up: (v: number[], dt?: DType) => Storage) => Storage[];
  const cases: [string, Run][] = [
    ['fill', (be) => [be.fill(6, 'f32', 0.5), be.fill(6, 'i32', 3)]],
    ['copy strided and cast', (be, up) => {
      const x = up(rand(12, 1).map((v) => v * 9));
      return [be.copy(view(x, [4, 3], [1, 4]), 'f32'), be.copy(full(x), 'i32'), be.copy(full(x), 'f16')];
    }],
    ['unary and binary with broadcast', (be, up) => {
      const x = up(rand(12, 2));
      const y = up(rand(3, 3));
      return [be.unary('silu', view(x, [4, 3], [1, 4])), be.binary('add', full(x), view(y, [12], [0], 1)), be.binary('lt', full(x), view(y, [12], [0]))];
    }],
    ['where', (be, up) => [be.where(full(up([1, 0, 1, 0], 'i32')), full(up([1, 2, 3, 4])), view(up([9]), [4], [0]))]],
    ['reduce sum, permuted sum, argmax', (be, up) => {
      const x = up(rand(24, 4));
      return [be.reduce('sum', view(x, [4, 6]), 1), be.reduce('sum', view(x, [6, 4], [1, 6]), 1), be.reduce('argmax', view(x, [4, 6]), 1)];
    }],
    ['matmul, also with K = 0', (be, up) => [
      be.matmul(view(up(rand(15, 5)), [1, 5, 3]), view(up(rand(12, 6)), [1, 3, 4])),
      be.matmul(view(up([]), [1, 5, 0]), view(up([]), [1, 0, 4])),
    ]],
    ['accumulate add into a fill', (be, up) => {
      const d = be.fill(8, 'f32', 1);
      be.accumulate(d, 2, full(up([1, 2, 3])), 'add');
      return [d];
    }],
    ['softmax and backward', (be, up) => {
      const x = up(rand(12, 7));
      const y = be.softmax(x, 3, 4, false);
      return [y, be.softmaxBackward(y, up(rand(12, 8)), 3, 4, false), be.softmax(x, 3, 4, true)];
    }],
    ['cross-entropy with an ignored row', (be, up) => {
      const x = up(rand(12, 9));
      const t = up([1, -100, 3], 'i32');
      return [be.crossEntropy(x, t, 3, 4, -100), be.crossEntropyBackward(x, t, up([1, 1, 1]), 3, 4, -100)];
    }],
    ['rmsnorm and backward', (be, up) => {
      const x = up(rand(12, 10));
      const w = up(rand(4, 11));
      const r = be.rmsnormBackward(x, w, up(rand(12, 12)), 3, 4, 1e-5);
      return [be.rmsnorm(x, w, 3, 4, 1e-5), r.dx, r.dw];
    }],
    ['rope, both layouts', (be, up) => {
      const x = up(rand(16, 13));
      const p = { n: 1, t: 2, h: 2, d: 4, startPos: 3, theta: 10000, inverse: false };
      return [be.rope(x, { ...p, layout: 'interleaved' }), be.rope(x, { ...p, layout: 'half' })];
    }],
    ['gathers and scatter-adds with untouched rows and columns', (be, up) => {
      const x = up(rand(15, 14));
      const i = up([4, 0, 4], 'i32');
      return [
        be.gatherRows(x, i, 5, 3, 3), be.scatterAddRows(up(rand(9, 15)), i, 3, 3, 5),
        be.gatherCols(x, up([2, 0, 1, 1, 0, 0, 2, 2, 2, 1], 'i32'), 5, 3, 2),
        be.scatterAddCols(up(rand(10, 16)), up([2, 2, 0, 0, 0, 0, 2, 2, 2, 2], 'i32'), 5, 2, 3),
      ];
    }],
    ['gatherMatmul and its weight gradient with an unused expert', (be, up) => {
      const x = up(rand(m * k, 17));
      const is = up(idx, 'i32');
      return [
        be.gatherMatmul(x, view(up(rand(e * k * n, 18)), [e, k, n]), is, m, k, n, e),
        be.gatherMatmulGradW(x, up(rand(m * n, 19)), is, m, k, n, e + 1),
      ];
    }],
    ['sortRows', (be, up) => {
      const r = be.sortRows(up([3, 1, 2, 1, 5, 0, 0, 4]), 2, 4, 3, true);
      return [r.values, r.indices];
    }],
    ['dropoutMask', (be) => [be.dropoutMask(64, 0.5, 7)]],
  ];

  const run = (be: CpuBackend, f: Run): Storage[] => f(be, (v, dt = 'f32') => be.upload(v, dt));
  // toEqual compares numbers with Object.is: NaN equals NaN, -0 differs from 0.
  const bits = (be: CpuBackend, s: Storage): number[] => Array.from(be.readSync(full(s)));

  for (const precision of ['f32', 'f64'] as Precision[]) {
    it.each(cases)(`${precision}: %s`, (_name, f) => {
      const fresh = createCpuBackend({ precision, maxPooledBytes: 0 });
      const want = run(fresh, f);
      const be = createCpuBackend({ precision });
      // Garbage arrays of every output's type and length, several each (kernels take some for
      // temporaries too), released so that the pool holds only them.
      const junk = want.flatMap((s) => Array.from({ length: 4 }, () => be.fill(s.size, s.dtype, s.dtype === 'i32' ? -123456789 : NaN)));
      const garbage = new Set(junk.map(dataOf));
      for (const g of junk) be.release(g);
      const got = run(be, f);
      got.forEach((s, i) => {
        expect(bits(be, s), `output ${i}`).toEqual(bits(fresh, want[i]!));
      });
      // the test is only worth something if the outputs really landed in the garbage
      expect(got.filter((s) => s.size > 0).every((s) => garbage.has(dataOf(s)))).toBe(true);
    });
  }
});
