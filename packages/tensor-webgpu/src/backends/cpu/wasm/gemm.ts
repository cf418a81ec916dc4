/**
 * f32 matmul through the WebAssembly SIMD128 kernel in matmul.wat (embedded as matmul.wasm.ts). Operands are
 * packed straight into the module's memory (absorbing strides, transposes and f16 decoding), the kernel
 * computes a padded C there, and the valid M x N block is copied out. Instantiation is synchronous and uses
 * only the plain WebAssembly API (Node, Deno, Bun); where SIMD is unavailable `wasmGemm()` returns null and
 * the caller keeps its TypeScript path.
 */
import { MATMUL_WASM_BASE64 } from './matmul.wasm.js';
import { instantiateWasm } from './load.js';

type F32 = Float32Array | Float64Array;

/** Rows per A panel and columns per B panel of the micro-kernel (must match matmul.wat). */
const MR = 4;
const NR = 8;
/** K steps per block: a B panel slice (NR * KB floats = 8 KiB) stays in L1 while A panels pass over it. */
const KB = 256;
const PAGE = 65536;

interface Kernel {
  memory: WebAssembly.Memory;
  gemm: (ap: number, bp: number, cp: number, P: number, Q: number, K: number, kb: number) => void;
}

let kernel: Kernel | null | undefined;

/** The instantiated kernel, or null where WebAssembly (or its SIMD proposal) is unavailable. */
export function wasmGemm(): Kernel | null {
  if (kernel !== undefined) return kernel;
  const ex = instantiateWasm<Kernel>(MATMUL_WASM_BASE64);
  kernel = ex === null ? null : { memory: ex.memory, gemm: ex.gemm };
  return kernel;
}

/** Test hook: force the fallback (null) or re-probe (undefined). */
export function setWasmGemmForTest(k: null | undefined): void {
  kernel = k;
}

/** Ap[p*4K + 4k + r] = A[4p + r, k] at float index d0, zero past the last row. */
function packA(src: F32, off: number, s1: number, s2: number, M: number, K: number, mem: Float32Array, d0: number): void {
  const P = Math.ceil(M / MR);
  for (let p = 0; p < P; p++) {
    const panel = d0 + p * MR * K;
    for (let r = 0; r < MR; r++) {
      const row = MR * p + r;
      let d = panel + r;
      if (row >= M) {
        for (let k = 0; k < K; k++, d += MR) mem[d] = 0;
        continue;
      }
      let s = off + row * s1;
      if (s2 === 1) for (let k = 0; k < K; k++, d += MR) mem[d] = src[s + k];
      else for (let k = 0; k < K; k++, d += MR, s += s2) mem[d] = src[s];
    }
  }
}

/** Bp[q*8K + 8k + c] = B[k, 8q + c] at float index d0, zero past the last column. */
function packB(src: F32, off: number, s1: number, s2: number, K: number, N: number, mem: Float32Array, d0: number): void {
  const Q = Math.ceil(N / NR);
  for (let q = 0; q < Q; q++) {
    const j0 = NR * q;
    const w = Math.min(NR, N - j0);
    let d = d0 + q * NR * K;
    let s = off + j0 * s2;
    if (w === NR && s2 === 1) {
      for (let k = 0; k < K; k++, d += NR, s += s1) {
        mem[d] = src[s]; mem[d + 1] = src[s + 1]; mem[d + 2] = src[s + 2]; mem[d + 3] = src[s + 3];
        mem[d + 4] = src[s + 4]; mem[d + 5] = src[s + 5]; mem[d + 6] = src[s + 6]; mem[d + 7] = src[s + 7];
      }
    } else {
      for (let k = 0; k < K; k++, d += NR, s += s1) {
        for (let c = 0; c < NR; c++) mem[d + c] = c < w ? src[s + c * s2] : 0;
      }
    }
  }
}

/**
 * C[cOff + bi*M*N + i*N + j] = sum_k A[bi, i, k] * B[bi, k, j] for Bn batches, operands given by offset and
 * strides. Returns false (C untouched) when the kernel is unavailable or the panels do not fit in memory.
 */
export function gemmF32(
  A: F32, aOff: number, sa0: number, sa1: number, sa2: number,
  B: F32, bOff: number, sb0: number, sb1: number, sb2: number,
  C: Float32Array, Bn: number, M: number, N: number, K: number,
): boolean {
  const kern = wasmGemm();
  if (kern === null) return false;
  if (M === 0 || N === 0 || Bn === 0) return true;
  const P = Math.ceil(M / MR);
  const Q = Math.ceil(N / NR);
  const Mp = P * MR;
  const Np = Q * NR;
  // Float offsets of the three regions; every size is a multiple of 4 floats, so each stays 16-byte aligned.
  const aLen = Mp * K;
  const bLen = Np * K;
  const cLen = Mp * Np;
  const aAt = 0;
  const bAt = aAt + aLen;
  const cAt = bAt + bLen;
  const bytes = (cAt + cLen) * 4;
  if (bytes > 0xffff0000) return false;
  const have = kern.memory.buffer.byteLength;
  if (bytes > have) {
    try {
      kern.memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch {
      return false;
    }
  }
  const mem = new Float32Array(kern.memory.buffer);
  if (K === 0) {
    C.fill(0, 0, Bn * M * N);
    return true;
  }
  let packedA = -1;
  let packedB = -1;
  for (let bi = 0; bi < Bn; bi++) {
    // A stride-0 (broadcast) batch dim packs its operand only once.
    const oa = aOff + bi * sa0;
    const ob = bOff + bi * sb0;
    if (oa !== packedA || bi === 0) packA(A, oa, sa1, sa2, M, K, mem, aAt);
    if (ob !== packedB || bi === 0) packB(B, ob, sb1, sb2, K, N, mem, bAt);
    packedA = oa;
    packedB = ob;
    kern.gemm(aAt * 4, bAt * 4, cAt * 4, P, Q, K, KB);
    const cOff = bi * M * N;
    if (Np === N) C.set(mem.subarray(cAt, cAt + M * N), cOff);
    else for (let i = 0; i < M; i++) C.set(mem.subarray(cAt + i * Np, cAt + i * Np + N), cOff + i * N);
  }
  return true;
}
