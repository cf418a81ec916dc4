import { afterEach, describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../../../dtype.js';
import { gatherMatmul, gatherMatmulGradW } from '../moe.js';
import type { RView } from '../storage.js';
import { setWasmGemmForTest } from './gemm.js';
import { poolStats } from './pool.js';
import { expectSameBits, rand, readyKernel } from './threads.testing.js';

/** Expert of each of m rows, drawn from `used` only (the other experts get empty groups). */
function route(m: number, used: number[], seed: number): Int32Array {
  const r = rand(m, seed);
  return Int32Array.from(r, (v) => used[Math.floor(((v + 1) / 2) * used.length) % used.length]);
}

function wview(data: Float32Array | Uint16Array, e: number, k: number, n: number, layout: 'kn' | 'nk', off = 0): RView {
  const strides = layout === 'kn' ? [k * n, n, 1] : [k * n, 1, k];
  return { data, dtype: data instanceof Uint16Array ? 'f16' : 'f32', shape: [e, k, n], strides, offset: off } as unknown as RView;
}

/** f32 results (the wasm kernel) against the f64 TypeScript oracle on the same inputs. */
function expectNearOracle(got: Float32Array, want: Float64Array, K: number, what: string): void {
  expect(got).toBeInstanceOf(Float32Array);
  expect(got.length, what).toBe(want.length);
  const tol = 1e-6 * (K + 1);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  expect(worst, what).toBeLessThanOrEqual(tol);
}

afterEach(() => setWasmGemmForTest(undefined));

describe('mixture-of-experts kernels on the wasm gemm', () => {
  // k and n from 16 up reach the row-copy layouts of place.ts (gathered rows of x in A, of g or x in B).
  const ks = [1, 3, 4, 5, 9, 17, 40];
  const ns = [1, 4, 5, 8, 13, 19];
  const routes: [number, number[]][] = [[1, [0]], [7, [2]], [50, [0, 2, 3]], [33, [0, 1, 2, 3, 4]]];
  /** Every (k, n, m, experts used) combination, with a fresh seed each. */
  function eachShape(body: (k: number, n: number, m: number, used: number[], seed: number) => void): void {
    let seed = 1;
    for (const k of ks) for (const n of ns) for (const [m, used] of routes) body(k, n, m, used, (seed += 10));
  }

  it('gatherMatmul matches the f64 oracle for edge shapes, empty experts, transposed/offset and f16 weights', () => {
    eachShape((k, n, m, used, seed) => {
      const e = 5;
      const x = rand(m * k, seed);
      const idx = route(m, used, seed + 1);
      const w = rand(e * k * n + 3, seed + 2);
      for (const [layout, off] of [['kn', 0], ['nk', 3]] as const) {
        const wv = wview(w, e, k, n, layout, off);
        const want = gatherMatmul(Float64Array.from(x), wv, idx, m, k, n, e, 'f64') as Float64Array;
        expectNearOracle(gatherMatmul(x, wv, idx, m, k, n, e, 'f32') as Float32Array, want, k, `m ${m} k ${k} n ${n} ${layout}`);
      }
      const h = wview(Uint16Array.from(w, (v) => f32ToF16Bits(v)), e, k, n, 'kn');
      const wantH = gatherMatmul(Float64Array.from(x), h, idx, m, k, n, e, 'f64') as Float64Array;
      expectNearOracle(gatherMatmul(x, h, idx, m, k, n, e, 'f32') as Float32Array, wantH, k, `f16 m ${m} k ${k} n ${n}`);
    });
  });

  it('gatherMatmulGradW matches the f64 oracle; experts without rows get exact zeros', () => {
    eachShape((k, n, m, used, seed) => {
      const e = 6;
      const x = rand(m * k, seed);
      const g = rand(m * n, seed + 1);
      const idx = route(m, used, seed + 2);
      const want = gatherMatmulGradW(Float64Array.from(x), Float64Array.from(g), idx, m, k, n, e, 'f64') as Float64Array;
      const got = gatherMatmulGradW(x, g, idx, m, k, n, e, 'f32') as Float32Array;
      expectNearOracle(got, want, m, `m ${m} k ${k} n ${n}`);
      for (let j = 0; j < e; j++) {
        if (!used.includes(j)) expect(got.subarray(j * k * n, (j + 1) * k * n).every((v) => Object.is(v, 0)), `expert ${j}`).toBe(true);
      }
    });
  });

  it('no rows and k = 0 give zeros', () => {
    const e = 3;
    expect(Array.from(gatherMatmul(new Float32Array(0), wview(rand(e * 4 * 5, 1), e, 4, 5, 'kn'), new Int32Array(0), 0, 4, 5, e, 'f32'))).toEqual([]);
    const w0 = wview(new Float32Array(0), e, 0, 5, 'kn');
    expect(Array.from(gatherMatmul(new Float32Array(0), w0, new Int32Array([1, 2]), 2, 0, 5, e, 'f32'))).toEqual(new Array(10).fill(0));
    expect(Array.from(gatherMatmulGradW(new Float32Array(0), new Float32Array(0), new Int32Array(0), 0, 4, 5, e, 'f32'))).toEqual(new Array(60).fill(0));
  });

  it('the TypeScript fallback (kernel forced off) agrees with the kernel', () => {
    const [m, k, n, e] = [70, 19, 11, 4];
    const x = rand(m * k, 7);
    const g = rand(m * n, 8);
    const idx = route(m, [0, 1, 3], 9);
    const wv = wview(rand(e * k * n, 10), e, k, n, 'nk');
    const fwd = gatherMatmul(x, wv, idx, m, k, n, e, 'f32') as Float32Array;
    const grad = gatherMatmulGradW(x, g, idx, m, k, n, e, 'f32') as Float32Array;
    setWasmGemmForTest(null);
    expectNearOracle(fwd, Float64Array.from(gatherMatmul(x, wv, idx, m, k, n, e, 'f32')), k, 'forward');
    expectNearOracle(grad, Float64Array.from(gatherMatmulGradW(x, g, idx, m, k, n, e, 'f32')), m, 'grad');
  });

  it('LoRA shapes on 2 threads equal 1 thread bit for bit', async () => {
    await readyKernel();
    const runs = poolStats.runs;
    const [m, e] = [2048, 8];
    const idx = route(m, [0, 1, 2, 3, 5, 6, 7], 3); // expert 4 empty
    for (const [k, n] of [[256, 4], [4, 1024], [256, 1024]]) {
      const x = rand(m * k, k);
      const g = rand(m * n, n);
      const wv = wview(rand(e * k * n, k + n), e, k, n, 'kn');
      const one = gatherMatmul(x, wv, idx, m, k, n, e, 'f32', 1) as Float32Array;
      expectSameBits(gatherMatmul(x, wv, idx, m, k, n, e, 'f32', 2) as Float32Array, one, `gatherMatmul k ${k} n ${n}`);
      const gOne = gatherMatmulGradW(x, g, idx, m, k, n, e, 'f32', 1) as Float32Array;
      expectSameBits(gatherMatmulGradW(x, g, idx, m, k, n, e, 'f32', 2) as Float32Array, gOne, `gatherMatmulGradW k ${k} n ${n}`);
    }
    expect(poolStats.runs - runs, 'threaded runs').toBeGreaterThanOrEqual(4);
  });
});
