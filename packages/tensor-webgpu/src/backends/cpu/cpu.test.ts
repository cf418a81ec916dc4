import { describe, expect, it } from 'vitest';
import type { BinaryOp, Storage, UnaryOp, View } from '../../backend.js';
import { f16BitsToF32, f32ToF16Bits } from '../../dtype.js';
import { dropoutKeep, dropoutThreshold, Generator, hash32 } from '../../random.js';
import { contiguousStrides } from '../../shape.js';
import { CpuBackend, createCpuBackend } from './index.js';

function view(storage: Storage, shape: number[], strides = contiguousStrides(shape), offset = 0): View {
  return { storage, shape, strides, offset };
}

function full(s: Storage): View {
  return view(s, [s.size]);
}

function rd(be: CpuBackend, s: Storage | View): number[] {
  return Array.from(be.readSync('storage' in s ? s : full(s)));
}

function rand(n: number, seed = 1, scale = 1): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => (g.uniform() * 2 - 1) * scale);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      expect(a, `index ${i}`).toBeNaN();
      continue;
    }
    if (a === e) continue;
    const err = Math.abs(a - e) / Math.max(1, Math.abs(e));
    if (!(err <= tol)) throw new Error(`index ${i}: got ${a}, expected ${e} (rel err ${err} > ${tol})`);
  }
}

const f32 = (xs: number[]): number[] => xs.map((x) => Math.fround(x));

const erfAS = (x: number): number => {
  const s = Math.sign(x);
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1 - poly * Math.exp(-ax * ax));
};

describe('cpu backend: storage and stats', () => {
  it('uploads and reads f32, i32, f16 and returns copies', async () => {
    const be = createCpuBackend();
    const a = be.upload([1.5, -2, 0.1], 'f32');
    const b = be.upload(new Float64Array([3.9, -3.9, 7]), 'i32');
    const c = be.upload([1, 0.5, 65504, 1e-8], 'f16');
    const [ra, rb, rc] = await be.read([full(a), full(b), full(c)]);
    expect(ra).toBeInstanceOf(Float32Array);
    expect(Array.from(ra)).toEqual(f32([1.5, -2, 0.1]));
    expect(rb).toBeInstanceOf(Int32Array);
    expect(Array.from(rb)).toEqual([3, -3, 7]);
    expect(rc).toBeInstanceOf(Float32Array);
    expect(Array.from(rc)).toEqual([1, 0.5, 65504, f16BitsToF32(f32ToF16Bits(1e-8))]);
    ra[0] = 99;
    expect(rd(be, a)[0]).toBe(1.5);
    // Uint16Array + f16 is raw half bits.
    const bits = be.upload(new Uint16Array([0x3c00, 0xc000]), 'f16');
    expect(rd(be, bits)).toEqual([1, -2]);
  });

  it('fills, reads strided views, and uses Float64Array in f64 precision', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const s = be.fill(4, 'f32', 0.1);
    const r = be.readSync(full(s));
    expect(r).toBeInstanceOf(Float64Array);
    expect(Array.from(r)).toEqual([0.1, 0.1, 0.1, 0.1]);
    const m = be.upload([0, 1, 2, 3, 4, 5], 'f32');
    expect(rd(be, view(m, [3, 2], [1, 3]))).toEqual([0, 3, 1, 4, 2, 5]);
    expect(rd(be, view(m, [2], [2], 1))).toEqual([1, 3]);
  });

  it('tracks live storages, bytes and dispatches', () => {
    const be = createCpuBackend();
    const a = be.upload([1, 2, 3], 'f32');
    const b = be.upload([1, 2], 'i32');
    const c = be.upload([1, 2], 'f16');
    expect(be.stats()).toEqual({ liveStorages: 3, bytesInUse: 12 + 8 + 4, pooledBytes: 0, pipelines: 0, dispatches: 0, submits: 0 });
    const d = be.unary('exp', full(a));
    expect(be.stats().dispatches).toBe(1);
    expect(be.stats().liveStorages).toBe(4);
    for (const s of [a, b, c, d]) be.release(s);
    expect(be.stats().liveStorages).toBe(0);
    expect(be.stats().bytesInUse).toBe(0);
    const be64 = createCpuBackend({ precision: 'f64' });
    be64.upload([1, 2, 3], 'f32');
    be64.upload([1, 2, 3], 'i32');
    expect(be64.stats().bytesInUse).toBe(24 + 12);
  });

  it('rejects double release and use after release', async () => {
    const be = createCpuBackend();
    const a = be.upload([1, 2], 'f32');
    be.release(a);
    expect(() => be.release(a)).toThrow(new Error('cpu backend: storage released twice'));
    expect(() => be.unary('neg', full(a))).toThrow(/released \(disposed\)/);
    expect(() => be.softmax(a, 1, 2, false)).toThrow(/released/);
    await expect(be.read([full(a)])).rejects.toThrow(/released/);
    await expect(be.sync()).resolves.toBeUndefined();
  });

  it('rejects views outside their storage and storages of another backend', () => {
    const be = createCpuBackend();
    const a = be.upload([1, 2, 3], 'f32');
    expect(() => be.copy(view(a, [4]), 'f32')).toThrow(/copy: x view .* outside storage of size 3/);
    const other = createCpuBackend().upload([1], 'f32');
    expect(() => be.unary('neg', full(other))).toThrow(/not a storage of this cpu backend/);
  });
});

describe('cpu backend: copy', () => {
  it('casts with truncation toward zero and through f16', () => {
    const be = createCpuBackend();
    const a = be.upload([2.7, -2.7, 0.5, -0.5, 1e9], 'f32');
    expect(rd(be, be.copy(full(a), 'i32'))).toEqual([2, -2, 0, 0, 1e9]);
    const h = be.copy(full(a), 'f16');
    expect(h.dtype).toBe('f16');
    expect(rd(be, h)).toEqual([2.7, -2.7, 0.5, -0.5, 1e9].map((v) => f16BitsToF32(f32ToF16Bits(v))));
    const i = be.upload([3, -4], 'i32');
    const fi = be.copy(full(i), 'f32');
    expect(fi.dtype).toBe('f32');
    expect(rd(be, fi)).toEqual([3, -4]);
  });

  it('copies transposed, broadcast and offset views in row-major order', () => {
    const be = createCpuBackend();
    const x = be.upload(Array.from({ length: 24 }, (_, i) => i), 'f32');
    // [2, 3, 4] permuted to [4, 2, 3]
    const perm = rd(be, be.copy(view(x, [4, 2, 3], [1, 12, 4]), 'f32'));
    const ref: number[] = [];
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) ref.push(i * 12 + j * 4 + k);
    expect(perm).toEqual(ref);
    expect(rd(be, be.copy(view(x, [2, 3], [0, 1], 5), 'f32'))).toEqual([5, 6, 7, 5, 6, 7]);
    expect(rd(be, be.copy(view(x, [3, 1, 2], [4, 7, 0], 2), 'f32'))).toEqual([2, 2, 6, 6, 10, 10]);
    expect(rd(be, be.copy(view(x, [], []), 'f32'))).toEqual([0]);
    expect(rd(be, be.copy(view(x, [3], [-2], 10), 'f32'))).toEqual([10, 8, 6]);
  });
});

describe('cpu backend: unary', () => {
  const xs = [-3, -1.5, -0.25, 0, 0.3, 1, 2.5, 7];
  const pos = [0.01, 0.5, 1, 2, 9];
  const ref: Record<UnaryOp, (x: number) => number> = {
    neg: (x) => -x,
    exp: Math.exp,
    log: Math.log,
    sqrt: Math.sqrt,
    rsqrt: (x) => 1 / Math.sqrt(x),
    abs: Math.abs,
    sign: Math.sign,
    square: (x) => x * x,
    recip: (x) => 1 / x,
    relu: (x) => Math.max(x, 0),
    silu: (x) => x / (1 + Math.exp(-x)),
    sigmoid: (x) => 1 / (1 + Math.exp(-x)),
    tanh: Math.tanh,
    gelu: (x) => 0.5 * x * (1 + erfAS(x / Math.SQRT2)),
    sin: Math.sin,
    cos: Math.cos,
  };
  for (const op of Object.keys(ref) as UnaryOp[]) {
    it(`${op} matches the reference in f32 and f64`, () => {
      const input = ['log', 'sqrt', 'rsqrt', 'recip'].includes(op) ? pos : xs;
      const be = createCpuBackend();
      const out = rd(be, be.unary(op, full(be.upload(input, 'f32'))));
      expectClose(out, f32(f32(input).map(ref[op])), 1e-6);
      const be64 = createCpuBackend({ precision: 'f64' });
      const out64 = rd(be64, be64.unary(op, full(be64.upload(input, 'f32'))));
      expect(out64).toEqual(input.map(ref[op]));
    });
  }

  it('gelu agrees with the exact erf form to ~1e-6', () => {
    // erf(0.5) = 0.5204998778130465, so gelu(1/sqrt2 * sqrt2 ...) check one known value.
    const be = createCpuBackend({ precision: 'f64' });
    const [g] = rd(be, be.unary('gelu', full(be.upload([Math.SQRT2 * 0.5], 'f32'))));
    expect(Math.abs(g - 0.5 * Math.SQRT2 * 0.5 * (1 + 0.5204998778130465))).toBeLessThan(2e-7);
  });

  it('handles i32 neg/abs/sign/square and rejects float ops on i32', () => {
    const be = createCpuBackend();
    const i = be.upload([-3, 0, 5], 'i32');
    for (const [op, e] of [['neg', [3, 0, -5]], ['abs', [3, 0, 5]], ['sign', [-1, 0, 1]], ['square', [9, 0, 25]]] as const) {
      const o = be.unary(op, full(i));
      expect(o.dtype).toBe('i32');
      expect(rd(be, o)).toEqual(e);
    }
    expect(() => be.unary('exp', full(i))).toThrow(/unary.*exp.*i32/);
  });

  it('propagates NaN through relu and works on strided views', () => {
    const be = createCpuBackend();
    const x = be.upload([NaN, -1, 2, -3, 4, 5], 'f32');
    expect(rd(be, be.unary('relu', full(x)))).toEqual([NaN, 0, 2, 0, 4, 5]);
    expect(rd(be, be.unary('neg', view(x, [2, 2], [1, 3], 1)))).toEqual([1, -4, -2, -5]);
  });

  it('rounds results to f32 in f32 mode only', () => {
    const be = createCpuBackend();
    const be64 = createCpuBackend({ precision: 'f64' });
    const a = [1];
    const b = [1e-9];
    expect(rd(be, be.binary('add', full(be.upload(a, 'f32')), full(be.upload(b, 'f32'))))).toEqual([1]);
    expect(rd(be64, be64.binary('add', full(be64.upload(a, 'f32')), full(be64.upload(b, 'f32'))))).toEqual([1 + 1e-9]);
  });
});

describe('cpu backend: binary and where', () => {
  const a = [-2, -0.5, 0, 0.5, 1, 3, 3, NaN];
  const b = [1, 2, -1, 0.5, 4, 3, -2, 1];
  const ref: Record<BinaryOp, (x: number, y: number) => number> = {
    add: (x, y) => x + y,
    sub: (x, y) => x - y,
    mul: (x, y) => x * y,
    div: (x, y) => x / y,
    pow: Math.pow,
    max: Math.max,
    min: Math.min,
    eq: (x, y) => (x === y ? 1 : 0),
    ne: (x, y) => (x !== y ? 1 : 0),
    lt: (x, y) => (x < y ? 1 : 0),
    le: (x, y) => (x <= y ? 1 : 0),
    gt: (x, y) => (x > y ? 1 : 0),
    ge: (x, y) => (x >= y ? 1 : 0),
    relu_grad: (x, g) => (x > 0 ? g : 0),
    silu_grad: (x, g) => {
      const s = 1 / (1 + Math.exp(-x));
      return g * s * (1 + x * (1 - s));
    },
    gelu_grad: (x, g) => g * (0.5 * (1 + erfAS(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI)),
    sigmoid_grad: (y, g) => g * y * (1 - y),
    tanh_grad: (y, g) => g * (1 - y * y),
  };
  for (const op of Object.keys(ref) as BinaryOp[]) {
    it(`${op} matches the reference (f64 exact)`, () => {
      const be = createCpuBackend({ precision: 'f64' });
      const out = be.binary(op, full(be.upload(a, 'f32')), full(be.upload(b, 'f32')));
      expect(out.dtype).toBe('f32');
      const expected = a.map((x, i) => ref[op](x, b[i]));
      // The A-S erf polynomial is evaluated in a different order here (and is 5e-10 off at 0).
      if (op === 'gelu_grad') expectClose(rd(be, out), expected, 1e-9);
      else expect(rd(be, out)).toEqual(expected);
    });
  }

  it('max/min propagate NaN and comparisons give f32 1/0', () => {
    const be = createCpuBackend();
    const x = full(be.upload([NaN, 1, 2], 'f32'));
    const y = full(be.upload([0, NaN, 2], 'f32'));
    expect(rd(be, be.binary('max', x, y))).toEqual([NaN, NaN, 2]);
    expect(rd(be, be.binary('min', x, y))).toEqual([NaN, NaN, 2]);
    const i = full(be.upload([1, 5, 2], 'i32'));
    const j = full(be.upload([1, 3, 4], 'i32'));
    const lt = be.binary('lt', i, j);
    expect(lt.dtype).toBe('f32');
    expect(rd(be, lt)).toEqual([0, 0, 1]);
  });

  it('i32 arithmetic truncates division toward zero', () => {
    const be = createCpuBackend();
    const x = full(be.upload([7, -7, 7, -7, 9, 2147483647], 'i32'));
    const y = full(be.upload([2, 2, -2, -2, 3, 1], 'i32'));
    expect(rd(be, be.binary('div', x, y))).toEqual([3, -3, -3, 3, 3, 2147483647]);
    expect(rd(be, be.binary('add', x, y)).slice(0, 5)).toEqual([9, -5, 5, -9, 12]);
    expect(rd(be, be.binary('add', x, y))[5]).toBe(-2147483648);
    expect(rd(be, be.binary('mul', x, y)).slice(0, 5)).toEqual([14, -14, -14, 14, 27]);
    expect(() => be.binary('pow', x, y)).toThrow(/pow.*f32 only/);
  });

  it('broadcasts through stride-0 views', () => {
    const be = createCpuBackend();
    const m = be.upload([1, 2, 3, 4, 5, 6], 'f32');
    const bias = be.upload([10, 20, 30], 'f32');
    const col = be.upload([100, 200], 'f32');
    expect(rd(be, be.binary('add', view(m, [2, 3]), view(bias, [2, 3], [0, 1])))).toEqual([11, 22, 33, 14, 25, 36]);
    expect(rd(be, be.binary('mul', view(col, [2, 3], [1, 0]), view(m, [2, 3], [1, 2])))).toEqual([100, 300, 500, 400, 800, 1200]);
  });

  it('rejects dtype and shape mismatches', () => {
    const be = createCpuBackend();
    const f = full(be.upload([1, 2], 'f32'));
    const i = full(be.upload([1, 2], 'i32'));
    expect(() => be.binary('add', f, i)).toThrow(/binary add: dtype mismatch, a is f32 and b is i32/);
    expect(() => be.binary('add', f, full(be.upload([1, 2, 3], 'f32')))).toThrow(/shape \[2\].*shape \[3\] differ/);
  });

  it('where selects on nonzero cond (f32 or i32) with output dtype of a', () => {
    const be = createCpuBackend();
    const cf = full(be.upload([1, 0, -2, 0], 'f32'));
    const ci = full(be.upload([0, 3, 0, 1], 'i32'));
    const a = full(be.upload([1, 2, 3, 4], 'f32'));
    const b = view(be.upload([9], 'f32'), [4], [0]);
    expect(rd(be, be.where(cf, a, b))).toEqual([1, 9, 3, 9]);
    expect(rd(be, be.where(ci, a, b))).toEqual([9, 2, 9, 4]);
    const ai = full(be.upload([5, 6, 7, 8], 'i32'));
    const bi = full(be.upload([0, 0, 0, 0], 'i32'));
    const o = be.where(cf, ai, bi);
    expect(o.dtype).toBe('i32');
    expect(rd(be, o)).toEqual([5, 0, 7, 0]);
  });
});

describe('cpu backend: reduce', () => {
  it('sum/max/min over trailing dims of a strided view match naive loops', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const data = rand(2 * 3 * 4, 3);
    const s = be.upload(data, 'f32');
    // view [4, 3, 2] as the full transpose of the contiguous [2, 3, 4]
    const v = view(s, [4, 3, 2], [1, 4, 12]);
    const at = (i: number, j: number, k: number): number => data[i + 4 * j + 12 * k];
    const sum2: number[] = [];
    const max1: number[] = [];
    const min1: number[] = [];
    for (let i = 0; i < 4; i++) {
      let acc = 0;
      for (let j = 0; j < 3; j++) {
        let mx = -Infinity;
        let mn = Infinity;
        for (let k = 0; k < 2; k++) {
          acc += at(i, j, k);
          mx = Math.max(mx, at(i, j, k));
          mn = Math.min(mn, at(i, j, k));
        }
        max1.push(mx);
        min1.push(mn);
      }
      sum2.push(acc);
    }
    expectClose(rd(be, be.reduce('sum', v, 2)), sum2, 1e-14);
    expect(rd(be, be.reduce('max', v, 1))).toEqual(max1);
    expect(rd(be, be.reduce('min', v, 1))).toEqual(min1);
    expectClose(rd(be, be.reduce('sum', v, 3)), [data.reduce((x, y) => x + y, 0)], 1e-14);
    expect(rd(be, be.reduce('sum', v, 0))).toEqual(rd(be, v));
  });

  it('argmax/argmin break ties to the lowest index and give i32', () => {
    const be = createCpuBackend();
    const x = be.upload([1, 3, 3, 0, 2, 2, 2, 2, -1, 5, -1, 5], 'f32');
    const am = be.reduce('argmax', view(x, [3, 4]), 1);
    expect(am.dtype).toBe('i32');
    expect(rd(be, am)).toEqual([1, 0, 1]);
    expect(rd(be, be.reduce('argmin', view(x, [3, 4]), 1))).toEqual([3, 0, 0]);
    expect(() => be.reduce('argmax', view(x, [3, 4]), 2)).toThrow(/exactly one trailing dim/);
  });

  it('max/min propagate NaN; i32 sums stay i32', () => {
    const be = createCpuBackend();
    const x = be.upload([1, NaN, 3, 4, 5, 6], 'f32');
    expect(rd(be, be.reduce('max', view(x, [2, 3]), 1))).toEqual([NaN, 6]);
    expect(rd(be, be.reduce('min', view(x, [2, 3]), 1))).toEqual([NaN, 4]);
    const i = be.reduce('sum', view(be.upload([1, 2, 3, 4], 'i32'), [2, 2]), 1);
    expect(i.dtype).toBe('i32');
    expect(rd(be, i)).toEqual([3, 7]);
  });
});

describe('cpu backend: matmul', () => {
  function naive(a: number[], sa: number[], oa: number, b: number[], sb: number[], ob: number, B: number, M: number, K: number, N: number): number[] {
    const c: number[] = [];
    for (let bi = 0; bi < B; bi++)
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += a[oa + bi * sa[0] + i * sa[1] + k * sa[2]] * b[ob + bi * sb[0] + k * sb[1] + j * sb[2]];
          c.push(s);
        }
    return c;
  }

  const dims = [1, 3, 7, 17, 65];
  it('matches a triple loop on odd shapes, contiguous and transposed, in f64 and f32', () => {
    const be64 = createCpuBackend({ precision: 'f64' });
    const be32 = createCpuBackend();
    let seed = 10;
    for (const M of dims)
      for (const K of [1, 7, 65])
        for (const N of dims) {
          const B = 2;
          const ad = rand(B * M * K, seed++);
          const bd = rand(B * K * N, seed++);
          for (const transA of [false, true])
            for (const transB of [false, true]) {
              const sa = transA ? [M * K, 1, M] : [M * K, K, 1];
              const sb = transB ? [K * N, 1, K] : [K * N, N, 1];
              const ref = naive(ad, sa, 0, bd, sb, 0, B, M, K, N);
              const c64 = be64.matmul(view(be64.upload(ad, 'f32'), [B, M, K], sa), view(be64.upload(bd, 'f32'), [B, K, N], sb));
              expectClose(rd(be64, c64), ref, 1e-13);
              const a32 = f32(ad);
              const b32 = f32(bd);
              const c32 = be32.matmul(view(be32.upload(ad, 'f32'), [B, M, K], sa), view(be32.upload(bd, 'f32'), [B, K, N], sb));
              // f32 precision accumulates in f32 (WebAssembly SIMD kernel): error grows ~K ulps, not one rounding.
              expectClose(rd(be32, c32), naive(a32, sa, 0, b32, sb, 0, B, M, K, N), Math.max(1e-6, 4 * K * 2 ** -24));
            }
        }
  });

  it('broadcasts the batch dim with stride 0 and honours offsets', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const [B, M, K, N] = [3, 9, 5, 6];
    const ad = rand(2 + M * K, 1);
    const bd = rand(B * K * N + 3, 2);
    const sa = [0, K, 1];
    const sb = [K * N, N, 1];
    const c = be.matmul(view(be.upload(ad, 'f32'), [B, M, K], sa, 2), view(be.upload(bd, 'f32'), [B, K, N], sb, 3));
    expectClose(rd(be, c), naive(ad, sa, 2, bd, sb, 3, B, M, K, N), 1e-13);
    // broadcast b, batch-varying a, thin shapes
    const c2 = be.matmul(view(be.upload(bd, 'f32'), [2, 2, 5], [10, 5, 1]), view(be.upload(ad, 'f32'), [2, 5, 3], [0, 3, 1]));
    expectClose(rd(be, c2), naive(bd, [10, 5, 1], 0, ad, [0, 3, 1], 0, 2, 2, 5, 3), 1e-13);
  });

  it('accepts f16 operands with an f32 result', () => {
    const be = createCpuBackend();
    const [M, K, N] = [5, 8, 6];
    const ad = rand(M * K, 4).map((v) => f16BitsToF32(f32ToF16Bits(v)));
    const bd = rand(K * N, 5);
    const ah = be.copy(full(be.upload(ad, 'f32')), 'f16');
    const c = be.matmul(view(ah, [1, M, K]), view(be.upload(bd, 'f32'), [1, K, N]));
    expect(c.dtype).toBe('f32');
    expectClose(rd(be, c), naive(ad, [0, K, 1], 0, f32(bd), [0, N, 1], 0, 1, M, K, N), 1e-6);
  });

  it('rejects mismatched shapes', () => {
    const be = createCpuBackend();
    const a = be.upload(rand(6), 'f32');
    expect(() => be.matmul(view(a, [1, 2, 3]), view(a, [1, 2, 3]))).toThrow(/matmul: shapes/);
  });
});

describe('cpu backend: accumulate', () => {
  it('copies or adds a strided src in row-major order at dstOffset', () => {
    const be = createCpuBackend();
    const dst = be.upload([0, 0, 0, 0, 0, 0, 0], 'f32');
    const src = be.upload([1, 2, 3, 4, 5, 6], 'f32');
    be.accumulate(dst, 1, view(src, [3, 2], [1, 3]), 'copy');
    expect(rd(be, dst)).toEqual([0, 1, 4, 2, 5, 3, 6]);
    be.accumulate(dst, 0, view(src, [2, 2], [0, 1], 4), 'add');
    expect(rd(be, dst)).toEqual([5, 7, 9, 8, 5, 3, 6]);
    expect(() => be.accumulate(dst, 3, full(src), 'add')).toThrow(/accumulate: dstOffset 3/);
  });
});

describe('cpu backend: softmax', () => {
  const rows = 3;
  const cols = 5;
  const x = rand(rows * cols, 7, 4);
  it('rows sum to 1 and equal exp(x)/sum', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const y = rd(be, be.softmax(be.upload(x, 'f32'), rows, cols, false));
    const ly = rd(be, be.softmax(be.upload(x, 'f32'), rows, cols, true));
    for (let r = 0; r < rows; r++) {
      const row = x.slice(r * cols, r * cols + cols);
      const s = row.reduce((acc, v) => acc + Math.exp(v), 0);
      expectClose(y.slice(r * cols, r * cols + cols), row.map((v) => Math.exp(v) / s), 1e-14);
      expectClose(ly.slice(r * cols, r * cols + cols), row.map((v) => v - Math.log(s)), 1e-14);
      expect(Math.abs(y.slice(r * cols, r * cols + cols).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-14);
    }
    // stable for large logits
    const big = rd(be, be.softmax(be.upload([1000, 1000], 'f32'), 1, 2, false));
    expect(big).toEqual([0.5, 0.5]);
  });

  it('backward matches central finite differences (f64)', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const g = rand(rows * cols, 8);
    for (const log of [false, true]) {
      const loss = (xs: number[]): number => rd(be, be.softmax(be.upload(xs, 'f32'), rows, cols, log)).reduce((a, v, i) => a + v * g[i], 0);
      const y = be.softmax(be.upload(x, 'f32'), rows, cols, log);
      const dx = rd(be, be.softmaxBackward(y, be.upload(g, 'f32'), rows, cols, log));
      const h = 1e-6;
      const fd = x.map((_, i) => {
        const p = x.slice();
        const m = x.slice();
        p[i] += h;
        m[i] -= h;
        return (loss(p) - loss(m)) / (2 * h);
      });
      expectClose(dx, fd, 1e-7);
    }
  });
});

describe('cpu backend: cross-entropy', () => {
  const rows = 4;
  const cols = 6;
  const x = rand(rows * cols, 9, 3);
  const t = [2, -100, 0, 5];
  const lse = (r: number): number => Math.log(x.slice(r * cols, r * cols + cols).reduce((a, v) => a + Math.exp(v), 0));
  it('loss is logsumexp - x[target], 0 on ignored rows', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const l = rd(be, be.crossEntropy(be.upload(x, 'f32'), be.upload(t, 'i32'), rows, cols, -100));
    expectClose(l, t.map((tr, r) => (tr === -100 ? 0 : lse(r) - x[r * cols + tr])), 1e-14);
  });

  it('gradient is (softmax - onehot) * gRow with zero ignored rows', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const gRow = [0.5, 3, -1, 2];
    const d = rd(be, be.crossEntropyBackward(be.upload(x, 'f32'), be.upload(t, 'i32'), be.upload(gRow, 'f32'), rows, cols, -100));
    const ref = x.map((v, i) => {
      const r = Math.floor(i / cols);
      if (t[r] === -100) return 0;
      return (Math.exp(v - lse(r)) - (i % cols === t[r] ? 1 : 0)) * gRow[r];
    });
    expectClose(d, ref, 1e-14);
    expect(d.slice(cols, 2 * cols)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('throws on an out-of-range target', () => {
    const be = createCpuBackend();
    expect(() => be.crossEntropy(be.upload(x, 'f32'), be.upload([0, 1, 6, 0], 'i32'), rows, cols, -100)).toThrow(/target 6 at row 2/);
    expect(() => be.crossEntropy(be.upload(x, 'f32'), be.upload([0, 1, 2, 0], 'f32'), rows, cols, -100)).toThrow(/target must have dtype i32/);
  });
});

describe('cpu backend: rmsnorm', () => {
  const rows = 3;
  const cols = 7;
  const eps = 1e-5;
  const x = rand(rows * cols, 11, 2);
  const w = rand(cols, 12).map((v) => 1 + v);
  it('forward matches the formula', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const y = rd(be, be.rmsnorm(be.upload(x, 'f32'), be.upload(w, 'f32'), rows, cols, eps));
    const ref = x.map((v, i) => {
      const r = Math.floor(i / cols);
      const ms = x.slice(r * cols, r * cols + cols).reduce((a, u) => a + u * u, 0) / cols;
      return (v / Math.sqrt(ms + eps)) * w[i % cols];
    });
    expectClose(y, ref, 1e-14);
  });

  it('backward matches central finite differences (f64)', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const g = rand(rows * cols, 13);
    const loss = (xs: number[], ws: number[]): number =>
      rd(be, be.rmsnorm(be.upload(xs, 'f32'), be.upload(ws, 'f32'), rows, cols, eps)).reduce((a, v, i) => a + v * g[i], 0);
    const { dx, dw } = be.rmsnormBackward(be.upload(x, 'f32'), be.upload(w, 'f32'), be.upload(g, 'f32'), rows, cols, eps);
    const h = 1e-6;
    const fd = (arr: number[], f: (v: number[]) => number): number[] =>
      arr.map((_, i) => {
        const p = arr.slice();
        const m = arr.slice();
        p[i] += h;
        m[i] -= h;
        return (f(p) - f(m)) / (2 * h);
      });
    expectClose(rd(be, dx), fd(x, (v) => loss(v, w)), 1e-7);
    expectClose(rd(be, dw), fd(w, (v) => loss(x, v)), 1e-7);
  });
});

describe('cpu backend: rope', () => {
  const [n, t, h, d] = [2, 3, 2, 8];
  const x = rand(n * t * h * d, 14);
  function direct(layout: 'interleaved' | 'half', startPos: number, theta: number): number[] {
    const y = x.slice();
    for (let s = 0; s < n; s++)
      for (let ti = 0; ti < t; ti++)
        for (let hi = 0; hi < h; hi++) {
          const b = ((s * t + ti) * h + hi) * d;
          for (let j = 0; j < d / 2; j++) {
            const ang = (startPos + ti) * theta ** ((-2 * j) / d);
            const [i0, i1] = layout === 'interleaved' ? [b + 2 * j, b + 2 * j + 1] : [b + j, b + j + d / 2];
            y[i0] = x[i0] * Math.cos(ang) - x[i1] * Math.sin(ang);
            y[i1] = x[i0] * Math.sin(ang) + x[i1] * Math.cos(ang);
          }
        }
    return y;
  }
  for (const layout of ['interleaved', 'half'] as const) {
    it(`${layout} matches the direct formula and inverts`, () => {
      const be = createCpuBackend({ precision: 'f64' });
      const p = { n, t, h, d, startPos: 5, theta: 10000, layout, inverse: false };
      const y = be.rope(be.upload(x, 'f32'), p);
      expectClose(rd(be, y), direct(layout, 5, 10000), 1e-14);
      const back = be.rope(y, { ...p, inverse: true });
      expectClose(rd(be, back), x, 1e-14);
      const be32 = createCpuBackend();
      const y32 = be32.rope(be32.upload(x, 'f32'), p);
      expectClose(rd(be32, be32.rope(y32, { ...p, inverse: true })), f32(x), 1e-6);
    });
  }
  it('rejects odd head size', () => {
    const be = createCpuBackend();
    expect(() => be.rope(be.upload([1, 2, 3], 'f32'), { n: 1, t: 1, h: 1, d: 3, startPos: 0, theta: 1e4, layout: 'half', inverse: false })).toThrow(
      /rope: head size d must be even/,
    );
  });
});

describe('cpu backend: gather and scatter', () => {
  it('gatherRows and scatterAddRows match naive loops; out-of-range throws', () => {
    const be = createCpuBackend();
    const [rows, cols] = [4, 3];
    const x = Array.from({ length: rows * cols }, (_, i) => i);
    const idx = [3, 0, 3, 1, 2];
    const out = rd(be, be.gatherRows(be.upload(x, 'f32'), be.upload(idx, 'i32'), rows, cols, idx.length));
    expect(out).toEqual(idx.flatMap((r) => x.slice(r * cols, r * cols + cols)));
    const gi = be.gatherRows(be.upload(x, 'i32'), be.upload(idx, 'i32'), rows, cols, idx.length);
    expect(gi.dtype).toBe('i32');
    const src = rand(idx.length * cols, 15);
    const sc = rd(be, be.scatterAddRows(be.upload(src, 'f32'), be.upload(idx, 'i32'), idx.length, cols, rows));
    const ref = new Array<number>(rows * cols).fill(0);
    idx.forEach((r, i) => {
      for (let c = 0; c < cols; c++) ref[r * cols + c] = Math.fround(ref[r * cols + c] + Math.fround(src[i * cols + c]));
    });
    expect(sc).toEqual(ref);
    expect(() => be.gatherRows(be.upload(x, 'f32'), be.upload([0, 4], 'i32'), rows, cols, 2)).toThrow(/gatherRows: index 4 .* 4 rows/);
    expect(() => be.gatherRows(be.upload(x, 'f32'), be.upload([-1], 'i32'), rows, cols, 1)).toThrow(/index -1/);
    expect(() => be.scatterAddRows(be.upload(src, 'f32'), be.upload([0, 0, 0, 0, 9], 'i32'), 5, cols, rows)).toThrow(/scatterAddRows: index 9/);
  });

  it('gatherCols and scatterAddCols match naive loops', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const [rows, cols, k] = [3, 5, 4];
    const x = rand(rows * cols, 16);
    const idx = [4, 4, 0, 2, 1, 3, 1, 1, 0, 0, 0, 4];
    const g = rd(be, be.gatherCols(be.upload(x, 'f32'), be.upload(idx, 'i32'), rows, cols, k));
    expect(g).toEqual(idx.map((c, i) => x[Math.floor(i / k) * cols + c]));
    const gv = rand(rows * k, 17);
    const s = rd(be, be.scatterAddCols(be.upload(gv, 'f32'), be.upload(idx, 'i32'), rows, k, cols));
    const ref = new Array<number>(rows * cols).fill(0);
    idx.forEach((c, i) => (ref[Math.floor(i / k) * cols + c] += gv[i]));
    expect(s).toEqual(ref);
    expect(() => be.gatherCols(be.upload(x, 'f32'), be.upload(idx.map(() => 5), 'i32'), rows, cols, k)).toThrow(/gatherCols: index 5/);
  });
});

/** Naive per-row expert matmul over a strided w [e, k, n] given as (data, strides, offset). */
function naiveGmm(x: number[], w: ArrayLike<number>, st: number[], off: number, idx: number[], k: number, n: number): number[] {
  const out: number[] = [];
  idx.forEach((ex, i) => {
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let r = 0; r < k; r++) s += x[i * k + r] * w[off + ex * st[0] + r * st[1] + c * st[2]];
      out.push(s);
    }
  });
  return out;
}

function naiveGradW(x: number[], g: number[], idx: number[], k: number, n: number, e: number): number[] {
  const out = new Array<number>(e * k * n).fill(0);
  idx.forEach((ex, i) => {
    for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) out[(ex * k + r) * n + c] += x[i * k + r] * g[i * n + c];
  });
  return out;
}

describe('cpu backend: gatherMatmul', () => {
  const [m, k, n, e] = [7, 5, 3, 4];
  const idx = [2, 0, 2, 2, 3, 0, 2];
  const x = rand(m * k, 31);

  it('matches a naive per-row loop for contiguous, transposed and offset weights', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const xs = be.upload(x, 'f32');
    const is = be.upload(idx, 'i32');
    const w = rand(e * k * n + 5, 32);
    const ws = be.upload(w, 'f32');
    // contiguous [e, k, n] at offset 5
    const stC = [k * n, n, 1];
    expectClose(rd(be, be.gatherMatmul(xs, view(ws, [e, k, n], stC, 5), is, m, k, n, e)), naiveGmm(x, w, stC, 5, idx, k, n), 1e-12);
    // a transposed [e, n, k] storage viewed as [e, k, n]
    const stT = [k * n, 1, k];
    expectClose(rd(be, be.gatherMatmul(xs, view(ws, [e, k, n], stT), is, m, k, n, e)), naiveGmm(x, w, stT, 0, idx, k, n), 1e-12);
    // one expert broadcast to e with stride 0
    const stB = [0, n, 1];
    expectClose(rd(be, be.gatherMatmul(xs, view(ws, [e, k, n], stB), is, m, k, n, e)), naiveGmm(x, w, stB, 0, idx, k, n), 1e-12);
  });

  it('reads f16 weights; output f32', () => {
    const be = createCpuBackend();
    const w = rand(e * k * n, 33);
    const bits = Uint16Array.from(w, f32ToF16Bits);
    const out = be.gatherMatmul(be.upload(x, 'f32'), view(be.upload(bits, 'f16'), [e, k, n]), be.upload(idx, 'i32'), m, k, n, e);
    expect(out.dtype).toBe('f32');
    expectClose(rd(be, out), naiveGmm(f32(x), Array.from(bits, f16BitsToF32), [k * n, n, 1], 0, idx, k, n), 1e-5);
  });

  it('gatherMatmulGradW matches a naive loop; unused experts get zeros', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const g = rand(m * n, 34);
    const got = rd(be, be.gatherMatmulGradW(be.upload(x, 'f32'), be.upload(g, 'f32'), be.upload(idx, 'i32'), m, k, n, e + 1));
    expectClose(got, naiveGradW(x, g, idx, k, n, e + 1), 1e-12);
    expect(got.slice(k * n, 2 * k * n).every((v) => v === 0)).toBe(true);
    expect(got.slice(e * k * n).every((v) => v === 0)).toBe(true);
  });

  it('empty sizes and errors naming the index and shapes', () => {
    const be = createCpuBackend();
    const xs = be.upload(x, 'f32');
    const ws = be.upload(rand(e * k * n, 35), 'f32');
    const wv = view(ws, [e, k, n]);
    expect(rd(be, be.gatherMatmul(be.upload([], 'f32'), wv, be.upload([], 'i32'), 0, k, n, e))).toEqual([]);
    expect(rd(be, be.gatherMatmulGradW(be.upload([], 'f32'), be.upload([], 'f32'), be.upload([], 'i32'), 0, k, n, e))).toEqual(new Array(e * k * n).fill(0));
    expect(() => be.gatherMatmul(xs, wv, be.upload([0, 4, 0, 0, 0, 0, 0], 'i32'), m, k, n, e)).toThrow(/gatherMatmul: index 4 at position 1 .*4 experts/);
    expect(() => be.gatherMatmul(xs, wv, be.upload([0, 0, -1, 0, 0, 0, 0], 'i32'), m, k, n, e)).toThrow(/index -1/);
    expect(() => be.gatherMatmulGradW(xs, be.upload(rand(m * n), 'f32'), be.upload([0, 0, 0, 0, 0, 0, 9], 'i32'), m, k, n, e)).toThrow(/gatherMatmulGradW: index 9/);
    expect(() => be.gatherMatmul(xs, view(ws, [e, n, k]), be.upload(idx, 'i32'), m, k, n, e)).toThrow(/w has shape \[4, 3, 5\], expected \[e, k, n\] = \[4, 5, 3\]/);
    expect(() => be.gatherMatmul(xs, wv, be.upload(idx.slice(1), 'i32'), m, k, n, e)).toThrow(/idx has 6 elements, expected 7/);
  });
});

describe('cpu backend: sortRows', () => {
  it('is stable for ties in both directions and keeps the first k', () => {
    const be = createCpuBackend();
    const x = [2, 1, 2, 3, 1, 2, /* row 2 */ 5, 5, 5, -1, 0, 5];
    const desc = be.sortRows(be.upload(x, 'f32'), 2, 6, 6, true);
    expect(rd(be, desc.values)).toEqual([3, 2, 2, 2, 1, 1, 5, 5, 5, 5, 0, -1]);
    expect(rd(be, desc.indices)).toEqual([3, 0, 2, 5, 1, 4, 0, 1, 2, 5, 4, 3]);
    expect(desc.indices.dtype).toBe('i32');
    const asc = be.sortRows(be.upload(x, 'f32'), 2, 6, 3, false);
    expect(rd(be, asc.values)).toEqual([1, 1, 2, -1, 0, 5]);
    expect(rd(be, asc.indices)).toEqual([1, 4, 0, 3, 4, 0]);
  });

  it('matches a reference stable sort on random data with many ties', () => {
    const be = createCpuBackend();
    const g = new Generator(5);
    const [rows, cols] = [7, 40];
    const x = Array.from({ length: rows * cols }, () => g.int(6));
    // k = 4 takes the top-k insertion path, k = 11 the full sort.
    for (const [k, descending] of [[11, true], [11, false], [4, true], [4, false]] as const) {
      const r = be.sortRows(be.upload(x, 'f32'), rows, cols, k, descending);
      const refIdx: number[] = [];
      for (let row = 0; row < rows; row++) {
        const ord = Array.from({ length: cols }, (_, c) => c).sort((i, j) => {
          const d = x[row * cols + i] - x[row * cols + j];
          return (descending ? -d : d) || i - j;
        });
        refIdx.push(...ord.slice(0, k));
      }
      expect(rd(be, r.indices)).toEqual(refIdx);
    }
  });

  it('ranks NaN above +Infinity on both paths', () => {
    const be = createCpuBackend();
    const row = [1, NaN, Infinity, -Infinity, NaN, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    for (const k of [2, 16]) {
      const d = be.sortRows(be.upload(row, 'f32'), 1, 16, k, true);
      expect(rd(be, d.indices).slice(0, 3)).toEqual([1, 4, 2].slice(0, k > 2 ? 3 : 2));
      const a = be.sortRows(be.upload(row, 'f32'), 1, 16, k, false);
      expect(rd(be, a.indices).slice(0, 2)).toEqual([3, 5]);
      if (k === 16) expect(rd(be, a.indices).slice(13)).toEqual([2, 1, 4]);
    }
  });

  it('rejects k > cols', () => {
    const be = createCpuBackend();
    expect(() => be.sortRows(be.upload([1, 2], 'f32'), 1, 2, 3, true)).toThrow(/sortRows: k 3 exceeds cols 2/);
  });
});

describe('cpu backend: dropoutMask', () => {
  it('equals dropoutKeep bit for bit and keeps ~1-p', () => {
    const be = createCpuBackend();
    const [size, p, seed] = [20000, 0.3, 1234567];
    const m = rd(be, be.dropoutMask(size, p, seed));
    const sh = hash32(seed);
    const th = dropoutThreshold(p);
    let kept = 0;
    for (let i = 0; i < size; i++) {
      const k = dropoutKeep(i, sh, th);
      expect(m[i]).toBe(k ? Math.fround(1 / (1 - p)) : 0);
      if (k) kept++;
    }
    expect(Math.abs(kept / size - 0.7)).toBeLessThan(0.02);
    expect(rd(be, be.dropoutMask(5, 0, 1))).toEqual([1, 1, 1, 1, 1]);
    expect(rd(be, be.dropoutMask(5, 1, 1))).toEqual([0, 0, 0, 0, 0]);
    expect(() => be.dropoutMask(5, 1.5, 1)).toThrow(/dropoutMask: p must be in \[0, 1\]/);
  });
});

describe('cpu backend: optimizers', () => {
  it('adamw one step matches the PyTorch formula, with and without gradScale', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const p0 = [0.5, -1, 2];
    const g0 = [0.1, -0.2, 0.3];
    const m0 = [0.01, 0, -0.02];
    const v0 = [0.001, 0.002, 0];
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3 };
    for (const scale of [null, 0.5]) {
      const [p, g, m, v] = [p0, g0, m0, v0].map((a) => be.upload(a, 'f32'));
      be.adamw(p, g, m, v, h, scale === null ? null : be.upload([scale], 'f32'));
      const sc = scale ?? 1;
      const em = m0.map((mi, i) => h.beta1 * mi + (1 - h.beta1) * g0[i] * sc);
      const ev = v0.map((vi, i) => h.beta2 * vi + (1 - h.beta2) * (g0[i] * sc) ** 2);
      const ep = p0.map((pi, i) => pi * (1 - h.lr * h.weightDecay) - (h.lr * (em[i] / h.bc1)) / (Math.sqrt(ev[i] / h.bc2) + h.eps));
      expectClose(rd(be, m), em, 1e-15);
      expectClose(rd(be, v), ev, 1e-15);
      expectClose(rd(be, p), ep, 1e-15);
    }
  });

  it('sgd handles momentum, the first step and no buffer', () => {
    const be = createCpuBackend({ precision: 'f64' });
    const h = { lr: 0.1, momentum: 0.9, weightDecay: 0.01, firstStep: true };
    const p = be.upload([1, -2], 'f32');
    const g = be.upload([0.5, 0.25], 'f32');
    const buf = be.upload([0, 0], 'f32');
    be.sgd(p, g, buf, h, be.upload([2], 'f32'));
    const g1 = [0.5 * 2 + 0.01 * 1, 0.25 * 2 + 0.01 * -2];
    expectClose(rd(be, buf), g1, 1e-15);
    const p1 = [1 - 0.1 * g1[0], -2 - 0.1 * g1[1]];
    expectClose(rd(be, p), p1, 1e-15);
    be.sgd(p, g, buf, { ...h, firstStep: false }, null);
    const g2 = [0.5 + 0.01 * p1[0], 0.25 + 0.01 * p1[1]];
    const b2 = [0.9 * g1[0] + g2[0], 0.9 * g1[1] + g2[1]];
    expectClose(rd(be, buf), b2, 1e-15);
    expectClose(rd(be, p), [p1[0] - 0.1 * b2[0], p1[1] - 0.1 * b2[1]], 1e-15);
    const q = be.upload([1], 'f32');
    be.sgd(q, be.upload([3], 'f32'), null, { lr: 0.5, momentum: 0, weightDecay: 0, firstStep: false }, null);
    expect(rd(be, q)).toEqual([-0.5]);
  });
});
