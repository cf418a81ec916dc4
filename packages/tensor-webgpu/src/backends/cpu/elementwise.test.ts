import { describe, expect, it } from 'vitest';
import type { BinaryOp, Storage, UnaryOp, View } from '../../backend.js';
import { Generator } from '../../random.js';
import { createCpuBackend, type Precision } from './index.js';

/** Element k (row-major) of the view of `data`, by the definition offset + sum(i_d * stride_d). */
function at(data: ArrayLike<number>, shape: number[], strides: number[], offset: number, k: number): number {
  let p = offset;
  for (let d = shape.length - 1; d >= 0; d--) {
    p += (k % shape[d]) * strides[d];
    k = Math.floor(k / shape[d]);
  }
  return data[p];
}

const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function rand(n: number, seed: number): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => Math.fround((g.uniform() * 2 - 1) * 4));
}

/** Layouts [shape, strides, offset] over a 6000-float storage; sizes exceed one 4096-element block. */
const LAYOUTS: Record<string, [number[], number[], number]> = {
  contiguous: [[3, 1501], [1501, 1], 5],
  scalar: [[3, 1501], [0, 0], 7],
  row: [[3, 1501], [0, 1], 2],
  column: [[3, 1501], [1, 0], 11],
  transposed: [[3, 1501], [1, 3], 0],
  'broadcast middle dim': [[3, 2, 751], [751, 0, 1], 1],
  'reversed rows': [[3, 1501], [-1501, 1], 3002 + 13],
};

/** b layouts for the rank-3 [3, 2, 751] a layout, named as in LAYOUTS. */
const RANK3_B: Record<string, number[]> = {
  contiguous: [1502, 751, 1], scalar: [0, 0, 0], row: [0, 0, 1], column: [1, 0, 0], transposed: [1, 3, 6],
};

const ref: Partial<Record<BinaryOp, (x: number, y: number) => number>> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  max: Math.max,
  lt: (x, y) => (x < y ? 1 : 0),
  relu_grad: (x, g) => (x > 0 ? g : 0),
  tanh_grad: (y, g) => g * (1 - y * y),
};

describe('cpu elementwise: strided and broadcast operands, walked block by block', () => {
  const A = rand(6000, 1);
  const B = rand(6000, 2);
  for (const precision of ['f32', 'f64'] as Precision[]) {
    for (const [la, [sa, sta, oa]] of Object.entries(LAYOUTS)) {
      for (const lb of ['contiguous', 'scalar', 'row', 'column', 'transposed']) {
        const [, stb, ob] = LAYOUTS[lb];
        it(`${precision}: a ${la}, b ${lb}`, () => {
          const be = createCpuBackend({ precision });
          const a = be.upload(A, 'f32');
          const b = be.upload(B, 'f32');
          // Same shape for both: the rank-3 layout pairs with b's rank-3 counterpart.
          const shape = sa;
          const bStrides = shape.length === 3 ? RANK3_B[lb] : stb;
          const va: View = { storage: a, shape, strides: sta, offset: oa };
          const vb: View = { storage: b, shape, strides: bStrides, offset: ob };
          const n = numel(shape);
          for (const [op, f] of Object.entries(ref) as [BinaryOp, (x: number, y: number) => number][]) {
            const got = be.readSync({ storage: be.binary(op, va, vb), shape: [n], strides: [1], offset: 0 });
            const round = precision === 'f32' ? Math.fround : (x: number) => x;
            for (let k = 0; k < n; k++) {
              const x = at(A, shape, sta, oa, k);
              const y = at(B, shape, bStrides, ob, k);
              const e = round(f(x, y));
              // tanh_grad runs in f32 arithmetic on the SIMD path: one rounding per op, at the size of its terms.
              const tol = op === 'tanh_grad' && precision === 'f32' ? 4 * 2 ** -24 * Math.abs(y) * (1 + x * x) : 0;
              if (!(Math.abs(got[k] - e) <= tol || Object.is(got[k], e))) {
                throw new Error(`${op} element ${k}: got ${got[k]}, expected ${e}`);
              }
            }
          }
        });
      }
    }
  }

  it('unary ops read strided and broadcast views (f32 SIMD and f64 paths)', () => {
    for (const precision of ['f32', 'f64'] as Precision[]) {
      const be = createCpuBackend({ precision });
      const x = be.upload(rand(6000, 3), 'f32');
      const X = be.readSync({ storage: x, shape: [6000], strides: [1], offset: 0 });
      for (const [name, [shape, strides, offset]] of Object.entries(LAYOUTS)) {
        for (const op of ['silu', 'exp', 'neg', 'relu'] as UnaryOp[]) {
          const got = be.readSync({ storage: be.unary(op, { storage: x, shape, strides, offset }), shape: [numel(shape)], strides: [1], offset: 0 });
          const f = { silu: (v: number) => v / (1 + Math.exp(-v)), exp: Math.exp, neg: (v: number) => -v, relu: (v: number) => Math.max(v, 0) }[op as 'silu'];
          for (let k = 0; k < got.length; k++) {
            const e = f(at(X, shape, strides, offset, k));
            const tol = precision === 'f32' ? 3e-7 * Math.abs(e) : 0;
            if (!(Math.abs(got[k] - e) <= tol)) throw new Error(`${precision} ${op} ${name} element ${k}: got ${got[k]}, expected ${e}`);
          }
        }
      }
    }
  });

  it('i32 arithmetic and comparisons on broadcast views', () => {
    const be = createCpuBackend();
    const m = be.upload(Array.from({ length: 5000 }, (_, i) => i - 2500), 'i32');
    const s: Storage = be.upload([7], 'i32');
    const shape = [2, 2500];
    const vm: View = { storage: m, shape, strides: [2500, 1], offset: 0 };
    const vs: View = { storage: s, shape, strides: [0, 0], offset: 0 };
    const mul = be.readSync({ storage: be.binary('mul', vm, vs), shape: [5000], strides: [1], offset: 0 });
    const ge = be.binary('ge', vm, vs);
    expect(ge.dtype).toBe('f32');
    const geV = be.readSync({ storage: ge, shape: [5000], strides: [1], offset: 0 });
    for (let k = 0; k < 5000; k++) {
      expect(mul[k]).toBe(7 * (k - 2500));
      expect(geV[k]).toBe(k - 2500 >= 7 ? 1 : 0);
    }
  });
});
