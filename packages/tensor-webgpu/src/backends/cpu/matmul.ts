/**
 * Batched matmul. Large products pack both operands into 4-wide panels of doubles (which also absorbs any
 * strides, transposes and f16 decoding) and run a 4x4 register-tiled micro-kernel whose inner
 * loop reads both panels sequentially. Accumulators are JS doubles; the store rounds to the
 * output array's precision once.
 */
import { f16Lut, newFloat, uninitFloat, type FloatArray, type Precision, type RView } from './storage.js';
import { gemmF32 } from './wasm/gemm.js';

type Num = FloatArray | Uint16Array;

/** Values of element i of an operand, decoding f16 bits through the lookup table. */
export function decodedFloats(data: Num, isF16: boolean): FloatArray {
  if (!isF16) return data as FloatArray;
  // Decoding up front keeps the hot loops monomorphic on float arrays.
  const lut = f16Lut();
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = lut[data[i]];
  return out;
}

/** Ap[p*4K + 4k + r] = A[4p + r, k], zero past the last row. */
function packA(src: FloatArray, off: number, s1: number, s2: number, M: number, K: number, Ap: Float64Array): void {
  const P = (M + 3) >> 2;
  for (let p = 0; p < P; p++) {
    const panel = p * 4 * K;
    for (let r = 0; r < 4; r++) {
      const row = 4 * p + r;
      let d = panel + r;
      if (row >= M) {
        for (let k = 0; k < K; k++, d += 4) Ap[d] = 0;
        continue;
      }
      let s = off + row * s1;
      if (s2 === 1) for (let k = 0; k < K; k++, d += 4) Ap[d] = src[s + k];
      else for (let k = 0; k < K; k++, d += 4, s += s2) Ap[d] = src[s];
    }
  }
}

/** Bp[q*4K + 4k + c] = B[k, 4q + c], zero past the last column. */
function packB(src: FloatArray, off: number, s1: number, s2: number, K: number, N: number, Bp: Float64Array): void {
  const Q = (N + 3) >> 2;
  for (let q = 0; q < Q; q++) {
    const j0 = 4 * q;
    const w = Math.min(4, N - j0);
    let d = q * 4 * K;
    let s = off + j0 * s2;
    if (w === 4) {
      for (let k = 0; k < K; k++, d += 4, s += s1) {
        Bp[d] = src[s];
        Bp[d + 1] = src[s + s2];
        Bp[d + 2] = src[s + 2 * s2];
        Bp[d + 3] = src[s + 3 * s2];
      }
    } else {
      for (let k = 0; k < K; k++, d += 4, s += s1) {
        for (let c = 0; c < 4; c++) Bp[d + c] = c < w ? src[s + c * s2] : 0;
      }
    }
  }
}

/**
 * The 4x4 register tile is written out here and again in moe.ts (gatherMatmulGradW) on purpose: one helper
 * serving both (stepping packed panels here, gathered rows there, through an index list) measured 1.38x
 * slower here and 1.23x there (256^3 and e 8, m 1024, k = n 256; one node run, median of 15): the shared
 * function sees both call sites' array types and goes polymorphic, and the panel walk pays an index load.
 */
function kernel4x4(Ap: Float64Array, Bp: Float64Array, C: FloatArray, cOff: number, M: number, N: number, K: number): void {
  const P = (M + 3) >> 2;
  const Q = (N + 3) >> 2;
  const K4 = 4 * K;
  // Block over B panels so a block (512 KiB of doubles) stays in L2 while every A panel passes over it.
  const QB = Math.max(1, Math.floor(65536 / K4));
  for (let q0 = 0; q0 < Q; q0 += QB) {
    const q1 = Math.min(Q, q0 + QB);
    for (let p = 0; p < P; p++) {
      const aBase = p * K4;
      const i0 = 4 * p;
      for (let q = q0; q < q1; q++) {
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
        let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
        let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let ai = aBase, bi = q * K4, end = aBase + K4; ai < end; ai += 4, bi += 4) {
          const a0 = Ap[ai], a1 = Ap[ai + 1], a2 = Ap[ai + 2], a3 = Ap[ai + 3];
          const b0 = Bp[bi], b1 = Bp[bi + 1], b2 = Bp[bi + 2], b3 = Bp[bi + 3];
          c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
          c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
          c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
          c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
        }
        const j0 = 4 * q;
        let o = cOff + i0 * N + j0;
        if (i0 + 4 <= M && j0 + 4 <= N) {
          C[o] = c00; C[o + 1] = c01; C[o + 2] = c02; C[o + 3] = c03; o += N;
          C[o] = c10; C[o + 1] = c11; C[o + 2] = c12; C[o + 3] = c13; o += N;
          C[o] = c20; C[o + 1] = c21; C[o + 2] = c22; C[o + 3] = c23; o += N;
          C[o] = c30; C[o + 1] = c31; C[o + 2] = c32; C[o + 3] = c33;
        } else {
          const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
          const h = Math.min(4, M - i0);
          const w = Math.min(4, N - j0);
          for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) C[o + r * N + c] = t[r * 4 + c];
        }
      }
    }
  }
}

/** Thin products (M or N below the tile size) read the operands in place, with double accumulators. */
function thin(
  A: FloatArray, oa: number, sa1: number, sa2: number,
  B: FloatArray, ob: number, sb1: number, sb2: number,
  C: FloatArray, cOff: number, M: number, N: number, K: number,
): void {
  if (sb2 === 1 && N >= 4) {
    const acc = new Float64Array(N);
    for (let i = 0; i < M; i++) {
      acc.fill(0);
      const aRow = oa + i * sa1;
      for (let k = 0; k < K; k++) {
        const aik = A[aRow + k * sa2];
        const bRow = ob + k * sb1;
        for (let j = 0; j < N; j++) acc[j] += aik * B[bRow + j];
      }
      C.set(acc, cOff + i * N);
    }
    return;
  }
  for (let i = 0; i < M; i++) {
    const aRow = oa + i * sa1;
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0, pa = aRow, pb = ob + j * sb2; k < K; k++, pa += sa2, pb += sb1) s += A[pa] * B[pb];
      C[cOff + i * N + j] = s;
    }
  }
}

/** a [B, M, K] x b [B, K, N] -> contiguous [B, M, N] (shapes validated by the caller). */
export function matmul(a: RView, b: RView, precision: Precision, threads = 1): FloatArray {
  const [Bn, M, K] = a.shape;
  const N = b.shape[2];
  // Every element is written when K > 0, so a reused array needs no zero-fill.
  const C = K === 0 ? newFloat(precision, Bn * M * N) : uninitFloat(precision, Bn * M * N);
  if (C.length === 0 || K === 0) return C;
  const A = decodedFloats(a.data as Num, a.dtype === 'f16');
  const Bd = decodedFloats(b.data as Num, b.dtype === 'f16');
  const [sa0, sa1, sa2] = a.strides;
  const [sb0, sb1, sb2] = b.strides;
  // f32 precision runs the WebAssembly SIMD kernel (f32 accumulators); f64 precision (the oracle) and
  // runtimes without WebAssembly SIMD keep the TypeScript path below.
  if (precision === 'f32' && C instanceof Float32Array &&
      gemmF32(A, a.offset, sa0, sa1, sa2, Bd, b.offset, sb0, sb1, sb2, C, Bn, M, N, K, threads)) {
    return C;
  }
  if (M < 4 || N < 4) {
    for (let bi = 0; bi < Bn; bi++) {
      thin(A, a.offset + bi * sa0, sa1, sa2, Bd, b.offset + bi * sb0, sb1, sb2, C, bi * M * N, M, N, K);
    }
    return C;
  }
  // Double panels even in f32 mode: the hot loop then skips a float->double convert per load (~10% faster).
  const Ap = new Float64Array(((M + 3) >> 2) * 4 * K);
  const Bp = new Float64Array(((N + 3) >> 2) * 4 * K);
  let packedA = -1;
  let packedB = -1;
  for (let bi = 0; bi < Bn; bi++) {
    // A stride-0 (broadcast) batch dim packs its operand only once.
    const oa = a.offset + bi * sa0;
    const ob = b.offset + bi * sb0;
    if (oa !== packedA || bi === 0) packA(A, oa, sa1, sa2, M, K, Ap);
    if (ob !== packedB || bi === 0) packB(Bd, ob, sb1, sb2, K, N, Bp);
    packedA = oa;
    packedB = ob;
    kernel4x4(Ap, Bp, C, bi * M * N, M, N, K);
  }
  return C;
}
