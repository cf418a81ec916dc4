import { describe, expect, it } from 'vitest';
import { gemmF32 } from './gemm.js';
import { KB } from './kernel.js';
import type { Operand } from './pack.js';
import { poolStats } from './pool.js';
import { layoutA, layoutB, plan } from './place.js';
import { expectNear, expectSameBits, naive, rand, readyKernel } from './threads.testing.js';

/**
 * A [M, K] read at aOff + i*sa1 + k*sa2 and B [K, N] at bOff + k*sb1 + j*sb2, from buffers wide enough for
 * the strides; gemmF32 against the f64 triple loop. Returns C.
 */
function check(M: number, N: number, K: number, sa1: number, sa2: number, sb1: number, sb2: number, off = 0, threads = 1): Float32Array {
  const A = rand(off + M * Math.max(sa1, 1) + K * sa2, M + K);
  const B = rand(off + K * Math.max(sb1, 1) + N * sb2, N + K);
  const C = new Float32Array(M * N).fill(NaN);
  expect(gemmF32(A, off, 0, sa1, sa2, B, off, 0, sb1, sb2, C, 1, M, N, K, threads)).toBe(true);
  expectNear(C, naive(M, N, K, (i, k) => A[off + i * sa1 + k * sa2], (k, j) => B[off + k * sb1 + j * sb2]), K);
  return C;
}

const op = (sLane: number, sK: number, extra: Partial<Operand> = {}): Operand => ({ data: new Float32Array(0), off: 0, sLane, sK, ...extra });

describe('operand placement', () => {
  it('copies contiguous rows and picks row-major or module-packed panels by shape', () => {
    expect(layoutA(op(256, 1), 1024, 256, 128)).toBe('lanes'); // one K block
    expect(layoutA(op(1024, 1), 2048, 1024, 32)).toBe('staged'); // several K blocks, swept 32 times
    expect(layoutA(op(1024, 1), 250, 1024, 1)).toBe('lanes'); // thin MoE gather: swept once
    expect(layoutA(op(1024, 1, { lanes: new Int32Array(1) }), 250, 256, 1)).toBe('lanes'); // gathered rows
    expect(layoutA(op(1, 256), 1024, 256, 128)).toBe('packed'); // transposed A
    expect(layoutA(op(4, 1), 250, 4, 128)).toBe('packed'); // rows too short for one set each
    expect(layoutA(op(1, 4, { steps: new Int32Array(1) }), 4, 250, 128)).toBe('packed'); // gathered K steps
    expect(layoutB(op(1, 1024), 1024)).toBe('staged'); // row-major B
    expect(layoutB(op(1, 1024, { steps: new Int32Array(1) }), 1024)).toBe('staged'); // gathered rows of B
    expect(layoutB(op(256, 1), 1024)).toBe('packed'); // transposed B
    expect(layoutB(op(1, 4), 4)).toBe('packed'); // rows too short
  });

  it('row and staged layouts match the f64 triple loop on edge shapes, strided rows and offsets', () => {
    // [M, N, K]: A in lanes (K <= KB, or K > KB with Q <= 2) or staged (K > KB, Q > 2; K mod 4 tails), B
    // staged where N >= 16; M, N not multiples of 4 / 8 leave padding rows and columns.
    const shapes = [
      [1, 16, 16], [5, 17, 31], [8, 33, 16], [13, 9, 600], [37, 16, KB + 1], [6, 1, 3 * KB + 5], [2, 1000, 40],
      [9, 40, KB + 2], [3, 25, KB + 3], [12, 64, 2 * KB], [1, 23, KB + 1],
    ];
    for (const [M, N, K] of shapes) {
      const pl = plan({ a: op(K, 1), b: op(1, N), M, N, K });
      expect(pl.la, `[${M}, ${N}, ${K}]`).toBe(K <= KB || N <= 16 ? 'lanes' : 'staged');
      expect(pl.lb, `[${M}, ${N}, ${K}]`).toBe(N >= 16 ? 'staged' : 'packed');
      check(M, N, K, K, 1, N, 1); // contiguous: one set for each operand where widths allow
      check(M, N, K, K + 3, 1, N + 5, 1, 7); // rows of wider matrices, at an offset: one set per row
    }
  });

  it('row layouts on 2 threads equal 1 thread bit for bit', async () => {
    await readyKernel();
    const runs = poolStats.runs;
    // A in lanes across K blocks (Q = 2), in one K block with many B panels, with one A panel; A and B staged
    for (const [M, N, K] of [[1003, 13, 700], [300, 500, 200], [3, 16, 30000], [201, 75, 600]]) {
      const one = check(M, N, K, K, 1, N, 1, 0, 1);
      expectSameBits(check(M, N, K, K, 1, N, 1, 0, 2), one, `[${M}, ${N}, ${K}]`);
    }
    expect(poolStats.runs - runs, 'threaded runs').toBe(4);
  });
});
