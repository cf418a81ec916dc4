/**
 * f32 matmul through the WebAssembly SIMD128 kernel in matmul.wat (embedded as matmul.wasm.ts). Operands are
 * copied or packed straight into the kernel's memory (place.ts; absorbing strides, transposes and broadcast
 * batches), the kernel computes a padded C there (on several threads when the product is large, see pool.ts),
 * and the valid M x N blocks are copied out. Where WebAssembly SIMD is unavailable `wasmGemm()` returns null
 * and the caller keeps its TypeScript path.
 */
import { DATA_AT, MR, NR, memoryF32, wasmGemm } from './kernel.js';
import { copyOut, type Src } from './pack.js';
import { callOf, place, plan, type Placed, type Product } from './place.js';
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
  const p: Product = {
    a: { data: A, off: aOff, sLane: sa1, sK: sa2 },
    b: { data: B, off: bOff, sLane: sb2, sK: sb1 },
    M, N, K,
  };
  const pl = plan(p);
  const per = pl.aFloats + pl.bFloats + pl.cFloats;
  const group = Math.max(1, Math.min(Bn, Math.floor(GROUP_FLOATS / per)));
  // The staging area (place.ts) comes first; the operands and results of a group follow it.
  const mem = memoryF32(kern, DATA_AT + (pl.stage + group * per) * 4);
  if (mem === null) return false;
  for (let b0 = 0; b0 < Bn; b0 += group) {
    const g = Math.min(group, Bn - b0);
    const batch = new Batch();
    const cAt: number[] = [];
    let at = DATA_AT / 4 + pl.stage;
    let a: Placed | null = null;
    let b: Placed | null = null;
    for (let bi = b0; bi < b0 + g; bi++) {
      // A stride-0 (broadcast) batch dim places its operand only once.
      if (a === null || sa0 !== 0) {
        a = place(kern, { ...p.a, off: aOff + bi * sa0 }, pl.la, M, K, MR, mem, at, DATA_AT / 4);
        at += pl.aFloats;
      }
      if (b === null || sb0 !== 0) {
        b = place(kern, { ...p.b, off: bOff + bi * sb0 }, pl.lb, N, K, NR, mem, at, DATA_AT / 4);
        at += pl.bFloats;
      }
      cAt.push(at);
      batch.add(callOf(a, b, at, p, pl));
      at += pl.cFloats;
    }
    batch.run(kern, threads);
    for (let i = 0; i < g; i++) copyOut(mem, cAt[i], pl.ldc, M, N, C, (b0 + i) * M * N, N);
  }
  return true;
}
