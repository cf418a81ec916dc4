import { afterEach, describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../../../dtype.js';
import { matmul } from '../matmul.js';
import type { RView } from '../storage.js';
import { gemmF32, setWasmGemmForTest, wasmGemm } from './gemm.js';
import { expectNear, naive, rand } from './threads.testing.js';

function rview(data: Float32Array | Uint16Array, shape: number[], strides: number[], offset = 0, dtype: 'f32' | 'f16' = 'f32'): RView {
  return { data, shape, strides, offset, dtype } as unknown as RView;
}

afterEach(() => setWasmGemmForTest(undefined));

describe('wasm simd f32 gemm', () => {
  it('is available under this runtime', () => {
    expect(wasmGemm()).not.toBeNull();
  });

  const dims = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33];
  it('matches a naive triple loop across edge shapes (M, N, K in 1, primes, non-multiples of 4/8/16)', () => {
    let seed = 1;
    for (const M of dims) {
      for (const N of dims) {
        for (const K of [1, 3, 8, 17]) {
          const A = rand(M * K, seed++);
          const B = rand(K * N, seed++);
          const C = new Float32Array(M * N).fill(NaN);
          expect(gemmF32(A, 0, 0, K, 1, B, 0, 0, N, 1, C, 1, M, N, K)).toBe(true);
          expectNear(C, naive(M, N, K, (i, k) => A[i * K + k], (k, j) => B[k * N + j]), K);
        }
      }
    }
  });

  it('handles K spanning several K blocks and odd large shapes', () => {
    for (const [M, N, K] of [[37, 53, 600], [64, 64, 256], [5, 129, 513], [130, 3, 1000], [1, 1, 1031]]) {
      const A = rand(M * K, M + N);
      const B = rand(K * N, K);
      const C = new Float32Array(M * N);
      expect(gemmF32(A, 0, 0, K, 1, B, 0, 0, N, 1, C, 1, M, N, K)).toBe(true);
      expectNear(C, naive(M, N, K, (i, k) => A[i * K + k], (k, j) => B[k * N + j]), K);
    }
  });

  it('K = 0 gives zeros, empty M/N gives an empty result', () => {
    const C = new Float32Array(12).fill(7);
    expect(gemmF32(new Float32Array(0), 0, 0, 0, 1, new Float32Array(0), 0, 0, 4, 1, C, 1, 3, 4, 0)).toBe(true);
    expect(Array.from(C)).toEqual(new Array(12).fill(0));
    const out = matmul(rview(new Float32Array(0), [2, 3, 0], [0, 0, 1]), rview(new Float32Array(0), [2, 0, 5], [0, 5, 1]), 'f32');
    expect(Array.from(out)).toEqual(new Array(30).fill(0));
    expect(matmul(rview(new Float32Array(0), [1, 0, 4], [0, 4, 1]), rview(rand(20, 3), [1, 4, 5], [20, 5, 1]), 'f32').length).toBe(0);
  });

  it('through matmul(): batches, broadcast batch, transposed and offset operands, f16 input', () => {
    const [Bn, M, N, K] = [3, 11, 19, 23];
    const A = rand(Bn * M * K + 5, 11);
    const Bt = rand(Bn * N * K, 12); // stored as [Bn, N, K], read transposed
    // A with offset 5, B transposed and batch-broadcast (stride 0).
    const a = rview(A, [Bn, M, K], [M * K, K, 1], 5);
    const b = rview(Bt, [Bn, K, N], [0, 1, K]);
    const got = matmul(a, b, 'f32');
    for (let bi = 0; bi < Bn; bi++) {
      const want = naive(M, N, K, (i, k) => A[5 + bi * M * K + i * K + k], (k, j) => Bt[j * K + k]);
      expectNear(got.subarray(bi * M * N, (bi + 1) * M * N), want, K);
    }
    // f16 operand: decoded before packing.
    const h = Uint16Array.from(rand(M * K, 13), (x) => f32ToF16Bits(x));
    const gotH = matmul(rview(h, [1, M, K], [M * K, K, 1], 0, 'f16'), rview(Bt, [1, K, N], [0, 1, K]), 'f32');
    const wantH = matmul(rview(h, [1, M, K], [M * K, K, 1], 0, 'f16'), rview(Bt, [1, K, N], [0, 1, K]), 'f64');
    expectNear(gotH, wantH, K);
  });

  it('agrees with the TypeScript fallback (forced) and with f64 precision', () => {
    const [M, N, K] = [45, 70, 130];
    const a = rview(rand(M * K, 21), [1, M, K], [M * K, K, 1]);
    const b = rview(rand(K * N, 22), [1, K, N], [K * N, N, 1]);
    const wasm = matmul(a, b, 'f32');
    setWasmGemmForTest(null);
    const ts = matmul(a, b, 'f32');
    expectNear(wasm, ts, K);
    expectNear(wasm, matmul(a, b, 'f64'), K);
  });
});
