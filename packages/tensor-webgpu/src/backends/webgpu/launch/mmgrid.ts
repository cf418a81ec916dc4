/** What every matmul launch shares: operands as strided storages and the batched dispatch grid. */
import type { KernelDef } from '../pipelines.js';
import { MAX_GROUPS, type WebGPURuntime, type WGStorage } from '../runtime.js';

/** One matmul operand: a storage with [batch, row, col] element strides and an element offset. */
export interface Operand {
  s: WGStorage;
  st: number[];
  off: number;
}

/** Output dims of a batched product [B, M, K] @ [B, K, N]. */
export interface Dims {
  B: number;
  M: number;
  K: number;
  N: number;
}

/**
 * Dispatch a [gx, gy] grid once per chunk of at most 65535 batches (the grid's z limit).
 * `words(b0)` gives the params of the chunk starting at batch b0: u32 words from 0, then i32 words.
 */
export function dispatchBatches(
  rt: WebGPURuntime, k: KernelDef, bufs: WGStorage[], { B, M, N }: Dims, gx: number, gy: number,
  words: (b0: number) => [u32s: number[], i32s: number[]],
): void {
  if (gy > MAX_GROUPS || gx > MAX_GROUPS) throw new Error(`webgpu: matmul: [${M}, ${N}] output is too large for one dispatch`);
  for (let b0 = 0; b0 < B; b0 += MAX_GROUPS) {
    const nb = Math.min(MAX_GROUPS, B - b0);
    const [u32s, i32s] = words(b0);
    rt.dispatch(k, bufs, (p) => {
      u32s.forEach((v, i) => p.u(i, v));
      i32s.forEach((v, i) => p.i(u32s.length + i, v));
    }, [gx, gy, nb]);
  }
}
