import { afterEach, describe, expect, it } from 'vitest';
import { Generator } from '../../../random.js';
import { VEC_MIN, setVectorKernelForTest, vecBinary, vecSoftmax, vecUnary, type VecBinaryOp, type VecUnaryOp } from './vector.js';

/** Smallest subnormal f32 (the spacing of the subnormal grid). */
const TINY = 2 ** -149;

/** The spacing of f32 values at |e| (the ulp of the f32 nearest e); subnormals have spacing TINY. */
function ulp(e: number): number {
  const a = Math.abs(Math.fround(e));
  if (a < 2 ** -126) return TINY;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

function rand(n: number, lo: number, hi: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * g.uniform());
}

/** Odd length spanning several 4096-float chunks and ending mid-vector. */
const N = 3 * 4096 + 7;

// The references run in f64 (the f64 backend's formulas), so they are the correctly rounded value to well
// below f32 resolution.
const UNARY_REF: Record<VecUnaryOp, (x: number) => number> = {
  exp: Math.exp,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  tanh: Math.tanh,
};

/**
 * Max error in ulps: exp is Cephes expf (~1 ulp); sigmoid adds one add and one divide in f32 (each
 * 0.5 ulp, plus exp's error damped by t/(1+t)); silu one more multiply. Measured maxima over 1M
 * points in [-20, 20]: 0.96, 2.06, 2.46, 1.3.
 */
const UNARY_ULPS: Record<VecUnaryOp, number> = { exp: 1.5, sigmoid: 3, silu: 4, tanh: 2.5 };

function expectWithin(op: string, xs: Float32Array, got: Float32Array, ref: (i: number) => number, bound: (i: number, e: number) => number): void {
  for (let i = 0; i < xs.length; i++) {
    const e = ref(i);
    const a = got[i];
    if (Number.isNaN(e)) {
      expect(a, `${op} at x=${xs[i]}`).toBeNaN();
      continue;
    }
    if (a === e) continue;
    const err = Math.abs(a - e);
    const b = bound(i, e);
    if (!(err <= b)) throw new Error(`${op}(${xs[i]}): got ${a}, expected ${e} (error ${err} > bound ${b})`);
  }
}

afterEach(() => setVectorKernelForTest(undefined));

describe('vector.wasm elementwise kernels', () => {
  for (const op of Object.keys(UNARY_REF) as VecUnaryOp[]) {
    it(`${op} stays within ${UNARY_ULPS[op]} ulp of the f64 formula over normal results`, () => {
      for (const [lo, hi, seed] of [[-20, 20, 1], [-1, 1, 2], [-87, 88, 3]] as const) {
        const x = rand(N, lo, hi, seed);
        const y = new Float32Array(N);
        expect(vecUnary(op, x, y)).toBe(true);
        // Results in the subnormal range are products of a subnormal e^-|x| with at most |x|, so there
        // the error is |x| steps of the subnormal grid instead of a relative bound.
        expectWithin(op, x, y, (i) => UNARY_REF[op](x[i]), (i, e) => Math.max(UNARY_ULPS[op] * ulp(e), (Math.abs(x[i]) + 1) * TINY));
      }
    });
  }

  it('handles NaN, infinities, signed zeros, huge, tiny and subnormal inputs like the f64 path', () => {
    const specials = [
      NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, TINY, -TINY, 1e-30, -1e-30, 1e30, -1e30,
      88.72, 88.73, 89, 90, -87.3, -100, -103, -103.9, -104, -105, -150, 0.625, -0.625, 0.6249, 9, -9, 3.4e38, -3.4e38,
    ];
    const x = Float32Array.from(specials);
    for (const op of Object.keys(UNARY_REF) as VecUnaryOp[]) {
      const y = new Float32Array(x.length);
      expect(vecUnary(op, x, y)).toBe(true);
      for (let i = 0; i < x.length; i++) {
        const e = Math.fround(UNARY_REF[op](x[i]));
        const a = y[i];
        const label = `${op}(${Object.is(x[i], -0) ? '-0' : x[i]}) = ${Object.is(a, -0) ? '-0' : a}, expected ${Object.is(e, -0) ? '-0' : e}`;
        if (!Number.isFinite(e) || e === 0) expect(Object.is(a, e), label).toBe(true);
        else expect(Math.abs(a - e), label).toBeLessThanOrEqual(Math.max(UNARY_ULPS[op] * ulp(e), (Math.abs(x[i]) + 1) * TINY));
      }
    }
  });

  it('add, sub, mul, div equal the correctly rounded f64 result bit for bit', () => {
    const a = rand(N, -1e3, 1e3, 4);
    const b = rand(N, -3, 3, 5);
    b[10] = 0;
    b[11] = -0;
    a[12] = NaN;
    a[13] = Infinity;
    const ref: Record<string, (x: number, y: number) => number> = {
      add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y,
    };
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      const o = new Float32Array(N);
      expect(vecBinary(op, a, b, o)).toBe(true);
      const e = Float32Array.from(a, (x, i) => ref[op](x, b[i]));
      expect(o, op).toEqual(e);
    }
  });

  it('silu_grad, sigmoid_grad and tanh_grad are within a few ulp of their largest term', () => {
    const g = rand(N, -2, 2, 6);
    const x = rand(N, -30, 30, 7);
    const y = rand(N, -1, 1, 8);
    // The factors (1 + x (1 - s)), (1 - y) and (1 - y^2) cancel, so the error is bounded relative to the
    // size of the terms that cancel (one f32 rounding each), not to the result.
    // silu_grad: the kernel gets 1 - s as sigmoid(-x), without cancellation, so a large x costs nothing.
    const cases: [VecBinaryOp, Float32Array, (v: number, gi: number) => number, (v: number, gi: number) => number][] = [
      ['silu_grad', x, (v, gi) => { const s = 1 / (1 + Math.exp(-v)); return gi * s * (1 + v * (1 - s)); },
        (v, gi) => { const s = 1 / (1 + Math.exp(-v)); return Math.abs(gi) * s * (1 + Math.abs(v) * (1 - s)); }],
      ['sigmoid_grad', y, (v, gi) => gi * v * (1 - v), (v, gi) => Math.abs(gi * v) * (1 + Math.abs(v))],
      ['tanh_grad', y, (v, gi) => gi * (1 - v * v), (v, gi) => Math.abs(gi) * (1 + v * v)],
    ];
    for (const [op, a, ref, scale] of cases) {
      const o = new Float32Array(N);
      expect(vecBinary(op, a, g, o)).toBe(true);
      expectWithin(op, a, o, (i) => ref(a[i], g[i]), (i, e) => 4 * ulp(e) + 4 * 2 ** -24 * scale(a[i], g[i]));
    }
  });

  it('row softmax and log-softmax match the f64 formulas for odd widths, with -Inf entries and NaN rows', () => {
    for (const cols of [1, 3, 8, 37, 1024, 5000]) {
      const rows = Math.max(2, Math.ceil(9000 / cols));
      const x = rand(rows * cols, -30, 30, cols);
      x[cols - 1] = -Infinity;
      x[cols] = NaN; // row 1 is all NaN
      for (const log of [false, true]) {
        const y = new Float32Array(rows * cols);
        expect(vecSoftmax(x, y, rows, cols, log)).toBe(true);
        for (let r = 0; r < rows; r++) {
          const row = Array.from(x.subarray(r * cols, (r + 1) * cols));
          const m = Math.max(...row);
          const s = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
          for (let c = 0; c < cols; c++) {
            const v = row[c];
            const e = log ? v - m - Math.log(s) : Math.exp(v - m) / s;
            const a = y[r * cols + c];
            if (Number.isNaN(e)) {
              expect(a, `row ${r} col ${c}`).toBeNaN();
              continue;
            }
            // The sum runs in 4 f32 lanes (relative error up to cols/4 roundings of 2^-24 in the worst case);
            // x - max is rounded to f32 before exp, a relative error of |x - max| 2^-24 in the result;
            // log-softmax also rounds x - lse once at the size of its operands.
            const rel = (4 + cols / 4 + Math.abs(v - m)) * 2 ** -24;
            const bound = log ? rel + 2 * 2 ** -24 * (Math.abs(v) + Math.abs(m + Math.log(s))) : 2 * ulp(e) + rel * Math.abs(e);
            if (a !== e && !(Math.abs(a - e) <= bound)) {
              throw new Error(`${log ? 'log-' : ''}softmax cols ${cols} [${r}, ${c}]: got ${a}, expected ${e}`);
            }
          }
        }
      }
    }
  });

  it('returns false and leaves the output alone where the module is unavailable', () => {
    setVectorKernelForTest(null);
    const o = new Float32Array(VEC_MIN).fill(7);
    expect(vecUnary('exp', new Float32Array(VEC_MIN), o)).toBe(false);
    expect(vecBinary('add', o, o, o)).toBe(false);
    expect(vecSoftmax(o, o, 1, VEC_MIN, false)).toBe(false);
    expect(o.every((v) => v === 7)).toBe(true);
  });
});
