/**
 * Launch of the batched matmul kernels (wgsl/matmul.ts): the narrow-output kernels where the shape
 * calls for them (launch/narrow.ts), else the vec4-tiled fast kernel where operands fit it, the
 * general kernel for small products, otherwise packing into the fast kernel's layout.
 */
import type { Storage, View } from '../../../backend.js';
import { grid1D, type WebGPURuntime, type WGStorage } from '../runtime.js';
import { coalesce } from '../strided.js';
import { copyKernel } from '../wgsl/elementwise.js';
import { rankKind, segmentedThreads } from '../wgsl/common.js';
import { MM_C4, MM_R, MM_TX, MM_TY, mmFastKernel, mmGeneralKernel, mmPackKernel } from '../wgsl/matmul.js';
import { fillWords, launchStrided } from './elementwise.js';
import { dispatchBatches, type Dims, type Operand } from './mmgrid.js';
import { TILE_N, mmTileKernel } from '../wgsl/tile.js';
import { mmSplitK, mmWgK, pickNarrow } from './narrow.js';

/** Below this many multiply-adds a matmul that does not fit the fast kernel directly runs the general kernel. */
const MM_PACK_MIN_WORK = 1 << 18;

/**
 * The rank-r term of a fused LoRA apply (launch/lowrank.ts): u contiguous f32 [M, r], lb contiguous
 * f32 [r, N4] zero-padded to the fast kernel's vec4 columns; one batch, K >= 1.
 */
export interface LowRank {
  u: WGStorage;
  lb: WGStorage;
  r: number;
  s: number;
}

function normalize(v: View, what: string): { shape: number[]; strides: number[] } {
  if (v.shape.length === 3) return { shape: [...v.shape], strides: [...v.strides] };
  if (v.shape.length === 2) return { shape: [1, ...v.shape], strides: [0, ...v.strides] };
  throw new Error(`webgpu: matmul: ${what} must be [B, M, K] / [B, K, N] (rank 3 or 2), got [${v.shape}]`);
}

export function matmul(rt: WebGPURuntime, a: View, b: View, low: LowRank | null = null): Storage {
  const sa = rt.view(a, 'matmul');
  const sb = rt.view(b, 'matmul');
  const A = normalize(a, 'a');
  const Bv = normalize(b, 'b');
  const [B, M, K] = A.shape as [number, number, number];
  const [B2, K2, N] = Bv.shape as [number, number, number];
  if (K !== K2 || B !== B2) throw new Error(`webgpu: matmul: shapes [${a.shape}] and [${b.shape}] do not match`);
  for (const s of [sa, sb]) {
    if (s.dtype === 'i32') throw new Error('webgpu: matmul: i32 operands are not supported (f32 or f16)');
  }
  // strides of size-1 dims are irrelevant: zero them so alignment checks are not fooled
  if (B === 1) A.strides[0] = Bv.strides[0] = 0;
  if (M === 1) A.strides[1] = 0;
  if (N === 1) Bv.strides[2] = 0;
  if (K === 1) A.strides[2] = Bv.strides[1] = 0;
  if (B * M * N === 0) return rt.alloc(0, 'f32');
  if (K === 0) {
    if (low) throw new Error(`webgpu: matmulAddLowRank: K must be at least 1, got x [${a.shape}] @ w [${b.shape}]`);
    const zeros = rt.alloc(B * M * N, 'f32');
    fillWords(rt, zeros, B * M * N, 0);
    return zeros;
  }
  const aligned = (st: number[], off: number, rowDim: number, innerDim: number, inner: number, cols: number) =>
    cols % 4 === 0 && inner === 1 && st[rowDim]! % 4 === 0 && st[0]! % 4 === 0 && off % 4 === 0 && st[innerDim] !== undefined;
  const aFast = K % 4 === 0 && (A.strides[2] === 1 || K === 1) && aligned(A.strides, a.offset, 1, 2, K === 1 ? 1 : A.strides[2]!, K);
  const bFast = N % 4 === 0 && K % 4 === 0 && (Bv.strides[2] === 1) && aligned(Bv.strides, b.offset, 1, 2, Bv.strides[2]!, N);
  let opA: Operand = { s: sa, st: A.strides, off: a.offset };
  let opB: Operand = { s: sb, st: Bv.strides, off: b.offset };
  const dims = { B, M, K, N };
  // The low-rank epilogue exists only in the tiled kernel.
  const narrow = low ? null : pickNarrow(rt.matmulTuning, dims, !rt.adapter.software);
  if (narrow === 'wgK') return mmWgK(rt, opA, opB, dims);
  if (narrow) return mmSplitK(rt, opA, opB, dims, narrow.slices);
  const out = rt.alloc(B * M * N, 'f32');
  if (aFast && bFast) {
    mmFast(rt, opA, opB, out, dims, low);
    return out;
  }
  // The low-rank epilogue exists only in the fast kernel: odd layouts take the packing route.
  if (!low && B * M * N * K < MM_PACK_MIN_WORK) {
    mmGeneral(rt, opA, opB, out, dims);
    return out;
  }
  // pack what does not fit into zero-padded contiguous f32 and run the fast kernel
  const K4 = Math.ceil(K / 4) * 4;
  const N4 = Math.ceil(N / 4) * 4;
  const temps: WGStorage[] = [];
  if (!aFast) {
    opA = mmPack(rt, opA, B, M, M, K, K4);
    temps.push(opA.s);
  }
  if (!bFast) {
    opB = mmPack(rt, opB, B, K4, K, N, N4);
    temps.push(opB.s);
  }
  if (N4 === N) {
    mmFast(rt, opA, opB, out, { B, M, K: K4, N }, low);
  } else {
    const wide = rt.alloc(B * M * N4, 'f32');
    temps.push(wide);
    mmFast(rt, opA, opB, wide, { B, M, K: K4, N: N4 }, low);
    const L = coalesce([B, M, N], [[M * N4, N4, 1]], [0]);
    const kind = rankKind(L.shape, L.strides);
    launchStrided(rt, copyKernel('f32', 'f32', kind), kind, [wide, out], B * M * N, L);
  }
  for (const t of temps) rt.release(t);
  return out;
}

/**
 * Copy operand `x` ([B or 1, Rv, C] valid) into zero-padded contiguous f32 [Bn, R, Cp]; a batch
 * stride of 0 (a broadcast operand) packs a single batch.
 */
export function mmPack(rt: WebGPURuntime, x: Operand, B: number, R: number, Rv: number, C: number, Cp: number): Operand {
  const Bn = x.st[0] === 0 ? 1 : B;
  const total = Bn * R * Cp;
  const out = rt.alloc(total, 'f32');
  rt.dispatch(mmPackKernel(x.s.dtype), [x.s, out], (p) => {
    p.u(0, total);
    p.u(1, R);
    p.u(2, C);
    p.u(3, Cp);
    p.i(4, x.off);
    p.i(5, x.st[0]!);
    p.i(6, x.st[1]!);
    p.i(7, x.st[2]!);
    p.u(8, Rv);
  }, grid1D(segmentedThreads(Bn * R, Cp)));
  return { s: out, st: [Bn === 1 ? 0 : R * Cp, Cp, 1], off: 0 };
}

function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0]!;
}

/**
 * Outputs this large run the shared-memory kernel on a GPU (wgsl/tile.ts). H100, against the
 * register-tiled kernel (bench/matmul-variants.mjs --big): 2048^3 1.74x, 4096^3 1.41x, but 1024^3
 * 0.79x and the MoE FFN products 0.71-0.86x, where its 64-row tiles are too few to fill the GPU.
 */
const TILE_MIN_OUTPUTS = 1 << 22;

/** Shared-memory tiling (mmTile) for this product: forced, or on a GPU adapter for large enough ones. */
function useTile(rt: WebGPURuntime, { B, M, K, N }: Dims): boolean {
  const v = rt.matmulTuning.variant ?? 'auto';
  if (v === 'tile') return true;
  return v === 'auto' && !rt.adapter.software && B * M * N >= TILE_MIN_OUTPUTS && M >= 64 && N >= TILE_N;
}

/** The vec4-tiled kernels: K and N multiples of 4, rows contiguous, strides and offsets 4-aligned. */
function mmFast(rt: WebGPURuntime, a: Operand, b: Operand, out: WGStorage, dims: Dims, low: LowRank | null = null): void {
  const { B, M, K, N } = dims;
  // both kernels take strides and offsets in vec4 units
  const vec4 = (x: Operand) => [x.st[0]! / 4, x.st[1]! / 4, x.off / 4];
  const words = (b0: number) => [M, N / 4, K / 4, b0, ...vec4(a), ...vec4(b)];
  if (!low && useTile(rt, dims)) {
    // 128-row tiles once there are two waves of them on a large GPU, else 64-row ones for more workgroups.
    const rm = Math.ceil(M / 128) * Math.ceil(N / TILE_N) * B >= 256 ? 8 : 4;
    dispatchBatches(rt, mmTileKernel(a.s.dtype, b.s.dtype, rm), [a.s, b.s, out], dims, Math.ceil(N / TILE_N), Math.ceil(M / (16 * rm)), (b0) => [words(b0), []]);
    return;
  }
  const k = mmFastKernel(a.s.dtype, b.s.dtype, low !== null);
  const gx = Math.ceil(N / 4 / MM_C4 / MM_TX);
  const gy = Math.ceil(M / MM_R / MM_TY);
  if (!low) dispatchBatches(rt, k, [a.s, b.s, out], dims, gx, gy, (b0) => [words(b0), []]);
  else dispatchBatches(rt, k, [a.s, b.s, out, low.u, low.lb], dims, gx, gy, () => [[...words(0), low.r, f32Bits(low.s)], []]);
}

/** The general kernel: any strides and offsets, 8x8 outputs per workgroup. */
function mmGeneral(rt: WebGPURuntime, a: Operand, b: Operand, out: WGStorage, dims: Dims): void {
  const { M, K, N } = dims;
  const k = mmGeneralKernel(a.s.dtype, b.s.dtype);
  dispatchBatches(rt, k, [a.s, b.s, out], dims, Math.ceil(N / 8), Math.ceil(M / 8), (b0) => [
    [M, N, K, b0],
    [a.off, ...a.st, b.off, ...b.st],
  ]);
}
