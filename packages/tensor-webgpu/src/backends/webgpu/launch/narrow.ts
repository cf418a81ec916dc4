/**
 * Launch of the narrow-output matmul kernels (wgsl/narrow.ts) and the choice between them and
 * the tiled kernels of launch/matmul.ts by shape.
 */
import type { Storage } from '../../../backend.js';
import { grid, type WebGPURuntime } from '../runtime.js';
import { NARROW_T, NARROW_WG, mmSplitKKernel, mmWgKKernel } from '../wgsl/narrow.js';
import { dispatchBatches, type Dims, type Operand } from './mmgrid.js';
import { reduce } from './reduce.js';

/** Which matmul kernels `matmul` may pick; a fixed variant is for benchmarks and tests. */
export interface MatmulTuning {
  /**
   * 'auto' picks by shape and adapter; 'tiled' only the register-tiled kernels; 'tile' the
   * shared-memory tiled kernel wherever the register-tiled one would run; 'splitK' / 'wgK' force one narrow kernel.
   */
  variant?: 'auto' | 'tiled' | 'tile' | 'splitK' | 'wgK';
  /** K slices of a forced 'splitK' (default: chosen by shape). */
  slices?: number;
}

/** mmSplitK aims at this many workgroups... */
const SPLIT_TARGET_GROUPS = 8;
/** ...with at least this many K steps per slice. */
const SPLIT_MIN_K = 64;

function tiles({ M, N }: Dims): number {
  return Math.ceil(M / NARROW_T) * Math.ceil(N / NARROW_T);
}

/** K slices that bring the split-K grid near SPLIT_TARGET_GROUPS workgroups. */
export function splitSlices(d: Dims): number {
  const groups = Math.ceil(tiles(d) / NARROW_WG) * d.B;
  return Math.max(1, Math.min(Math.ceil(SPLIT_TARGET_GROUPS / groups), Math.floor(d.K / SPLIT_MIN_K)));
}

function words(a: Operand, b: Operand, d: Dims, kSlice: number, plane: number) {
  return (b0: number): [number[], number[]] => [
    [d.M, d.N, d.K, b0, kSlice, Math.ceil(d.N / NARROW_T), tiles(d), plane],
    [a.off, ...a.st, b.off, ...b.st],
  ];
}

/** Split-K: `slices` partial products of K slices, summed in slice order. */
export function mmSplitK(rt: WebGPURuntime, a: Operand, b: Operand, d: Dims, slices: number): Storage {
  const kSlice = Math.ceil(d.K / Math.max(1, slices));
  const S = Math.ceil(d.K / kSlice);
  const plane = d.B * d.M * d.N;
  const part = rt.alloc(S * plane, 'f32');
  dispatchBatches(rt, mmSplitKKernel(a.s.dtype, b.s.dtype), [a.s, b.s, part], d, Math.ceil(tiles(d) / NARROW_WG), S, words(a, b, d, kSlice, plane));
  if (S === 1) return part;
  const out = reduce(rt, 'sum', { storage: part, shape: [plane, S], strides: [1, plane], offset: 0 }, 1);
  rt.release(part);
  return out;
}

/** Workgroup-reduced: a workgroup per 4 x 4 output tile, its lanes striding over K. */
export function mmWgK(rt: WebGPURuntime, a: Operand, b: Operand, d: Dims): Storage {
  const out = rt.alloc(d.B * d.M * d.N, 'f32');
  const [gx, gy] = grid(tiles(d));
  dispatchBatches(rt, mmWgKKernel(a.s.dtype, b.s.dtype), [a.s, b.s, out], d, gx, gy, words(a, b, d, 0, 0));
  return out;
}

/**
 * Outputs at most this many columns wide run split-K: the tiled kernel's workgroup rows are 8 lanes
 * over 64 columns, so N <= 8 leaves 7 of 8 lanes idle (bench/matmul-variants.mjs: split-K 1.8-5x
 * faster at N = 1..8; the tiled kernel 1.3x faster at N = 32 and on few rows of wide outputs).
 */
const NARROW_MAX_N = 8;

/**
 * At most this many output tiles (all batches) with K at least WGK_MIN_K run mmWgK: split-K would
 * leave most of each 8-lane SIMD row idle, while the workgroup's lanes all share the K loop and
 * the tree reduction is paid once per tile ([4 x 16384] @ [16384 x 4]: 2.6x the tiled kernel,
 * split-K 1.0x; at 64 or more tiles split-K beat it everywhere measured).
 */
const WGK_MAX_TILES = 8;
const WGK_MIN_K = 1024;

/**
 * On a GPU adapter: outputs at most this narrow on one side with K at least GPU_WGK_MIN_K run mmWgK.
 * H100 (bench/matmul-variants.mjs): 1.2-7x the tiled kernel on every MoE-LoRA shape this covers
 * (LoRA x@A, xᵀg, dB, router dW, dense experts 32 wide), while split-K there was 0.6-0.8x at N <= 8
 * and both lost on the wide FFN products (0.1-0.4x) and short K (K 8: 0.8x, K 32: 0.1x).
 */
const GPU_WGK_MAX_SIDE = 32;
const GPU_WGK_MIN_K = 256;

/** The narrow kernel for a product, or null for the tiled kernels; `gpu`: a hardware adapter. */
export function pickNarrow(t: MatmulTuning, d: Dims, gpu = false): 'wgK' | { slices: number } | null {
  const v = t.variant ?? 'auto';
  if (v === 'wgK') return 'wgK';
  if (v === 'splitK') return { slices: t.slices ?? splitSlices(d) };
  if (v === 'tiled' || v === 'tile') return null;
  if (gpu) return Math.min(d.M, d.N) <= GPU_WGK_MAX_SIDE && d.K >= GPU_WGK_MIN_K ? 'wgK' : null;
  if (tiles(d) * d.B <= WGK_MAX_TILES && d.K >= WGK_MIN_K) return 'wgK';
  if (d.N > NARROW_MAX_N) return null;
  return { slices: splitSlices(d) };
}
