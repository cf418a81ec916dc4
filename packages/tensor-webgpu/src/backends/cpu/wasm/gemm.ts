/**
 * f32 matmul through the WebAssembly SIMD128 kernel in matmul.wat (embedded as matmul.wasm.ts). Operands are
 * packed straight into the kernel's memory (absorbing strides, transposes and broadcast batches), the kernel
 * computes a padded C there (on several threads when the product is large, see pool.ts), and the valid
 * M x N blocks are copied out. Where WebAssembly SIMD is unavailable `wasmGemm()` returns null and the
 * caller keeps its TypeScript path.
 */
import { DATA_AT, MR, NR, memoryF32, panelFloats, wasmGemm } from './kernel.js';
import { copyOut, packPanels, type Src } from './pack.js';
import { Batch } from './pool.js';

export { setWasmGemmForTest, wasmGemm } from './kernel.js';

/** Packed floats per group of batch items run together (bounds memory for long batches; 64 MiB). */
const GROUP_FLOATS = 1 << 24;

/**
 * C[bi*M*N + i*N + j] = sum_k A[bi, i, k] * B[bi, k, j] for Bn batches, operands given by offset and strides,
 * on up to `threads` threads. Returns false (C untouched) when the kernel is unavailable or the panels do
 * not fit in its memory.
 */
export function gemmF32(
  A: Src, aOff: number, sa0: number, sa1: number, sa2: number,
  B: Src, bOff: number, sb0: number, sb1: number, sb2: number,
  C: Float32Array, Bn: number, M: number, N: number, K: number, threads = 1,
): boolean {
  const kern = wasmGemm();
  if (kern === null) return false;
  if (M === 0 || N === 0 || Bn === 0) return true;
  if (K === 0) {
    C.fill(0, 0, Bn * M * N);
    return true;
  }
  const aLen = panelFloats(M, K, MR);
  const bLen = panelFloats(N, K, NR);
  const Np = Math.ceil(N / NR) * NR;
  const cLen = Math.ceil(M / MR) * MR * Np;
  const per = aLen + bLen + cLen;
  const group = Math.max(1, Math.min(Bn, Math.floor(GROUP_FLOATS / per)));
  const mem = memoryF32(kern, DATA_AT + group * per * 4);
  if (mem === null) return false;
  for (let b0 = 0; b0 < Bn; b0 += group) {
    const g = Math.min(group, Bn - b0);
    const batch = new Batch();
    const cAt: number[] = [];
    let at = DATA_AT / 4;
    let aAt = -1;
    let bAt = -1;
    for (let bi = b0; bi < b0 + g; bi++) {
      // A stride-0 (broadcast) batch dim packs its operand only once.
      const oa = aOff + bi * sa0;
      const ob = bOff + bi * sb0;
      if (bi === b0 || sa0 !== 0) {
        aAt = at;
        packPanels({ data: A, off: oa, sLane: sa1, sK: sa2 }, M, K, MR, mem, aAt);
        at += aLen;
      }
      if (bi === b0 || sb0 !== 0) {
        bAt = at;
        packPanels({ data: B, off: ob, sLane: sb2, sK: sb1 }, N, K, NR, mem, bAt);
        at += bLen;
      }
      cAt.push(at);
      batch.add(aAt * 4, bAt * 4, at * 4, Math.ceil(M / MR), Np / NR, K, Np * 4);
      at += cLen;
    }
    batch.run(kern, threads);
    for (let i = 0; i < g; i++) copyOut(mem, cAt[i], Np, M, N, C, (b0 + i) * M * N, N);
  }
  return true;
}
