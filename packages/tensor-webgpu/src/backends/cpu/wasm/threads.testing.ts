/** Helpers shared by the wasm kernel tests (not a test file itself). */
import { expect } from 'vitest';
import { Generator } from '../../../random.js';
import { gemmF32, wasmGemm } from './gemm.js';
import type { Kernel } from './kernel.js';
import { readyWorkers } from './pool.js';

export function rand(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => g.uniform() * 2 - 1);
}

/** The kernel with at least one worker ready: a large threaded product starts the pool, then we poll. */
export async function readyKernel(threads = 2): Promise<Kernel> {
  const k = wasmGemm();
  if (k === null) throw new Error('wasm kernel unavailable');
  const n = 128;
  gemmF32(rand(n * n, 1), 0, 0, n, 1, rand(n * n, 2), 0, 0, n, 1, new Float32Array(n * n), 1, n, n, n, threads);
  const t0 = Date.now();
  while (readyWorkers(k) === 0) {
    if (Date.now() - t0 > 20_000) throw new Error('no worker became ready within 20 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  return k;
}

/** Bitwise equality of two float arrays (NaN-safe, -0 distinct from 0). */
export function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let first = -1;
  for (let i = 0; i < a.length && first < 0; i++) if (a[i] !== b[i]) first = i;
  expect(first, `${what}: first differing element`).toBe(-1);
}

/** Naive triple loop in doubles over element accessors. */
export function naive(M: number, N: number, K: number, a: (i: number, k: number) => number, b: (k: number, j: number) => number): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a(i, k) * b(k, j);
      C[i * N + j] = s;
    }
  }
  return C;
}

/** |got - want| within f32 accumulation error for a length-K dot product of values in [-1, 1]. */
export function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, K: number): void {
  expect(got.length).toBe(want.length);
  const tol = 1e-6 * (K + 1) + 1e-6;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  expect(worst).toBeLessThanOrEqual(tol);
}
