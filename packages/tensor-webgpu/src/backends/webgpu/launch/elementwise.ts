/** Launches of the elementwise kernels (wgsl/elementwise.ts): copy/cast, unary, binary, where, accumulate, fill, dropout. */
import type { BinaryOp, Storage, UnaryOp, View } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { dropoutThreshold, hash32 } from '../../../random.js';
import { numel } from '../../../shape.js';
import type { KernelDef } from '../pipelines.js';
import { grid1D, type Bindable, type WebGPURuntime, type WGStorage } from '../runtime.js';
import { checkRank, coalesce, writeStrided, type Layout, type ParamWriter } from '../strided.js';
import { rankKind, segmentedThreads, type RankKind } from '../wgsl/common.js';
import {
  accumulateKernel,
  binaryKernel,
  binaryOutDType,
  copyKernel,
  dropoutKernel,
  fillKernel,
  unaryKernel,
  whereKernel,
} from '../wgsl/elementwise.js';

function layout(what: string, shape: readonly number[], views: View[]): Layout {
  const L = coalesce(shape, views.map((v) => v.strides), views.map((v) => v.offset));
  checkRank(what, L.shape.length);
  return L;
}

/** vec4 variant for contiguous f32/i32 views with 4-aligned offsets and size. */
function v4(kind: RankKind, n: number, L: Layout, dtypes: DType[]): boolean {
  return kind === 'c' && n % 4 === 0 && n >= 4 && L.offsets.every((o) => o % 4 === 0) && dtypes.every((d) => d !== 'f16');
}

/**
 * The standard strided launch over `n` items of a kernel of variant `kind` (`threads` differs
 * from n when a thread handles several; the rows variant runs a thread per row segment).
 */
export function launchStrided(
  rt: WebGPURuntime, k: KernelDef, kind: RankKind, bufs: Bindable[], n: number, L: Layout,
  threads = n, extra?: (p: ParamWriter) => void,
): void {
  if (kind === 'r') {
    const inner = L.shape[L.shape.length - 1]!;
    threads = segmentedThreads(n / inner, inner);
  }
  rt.dispatch(k, bufs, (p) => {
    p.u(0, n);
    writeStrided(p, L);
    extra?.(p);
  }, grid1D(threads));
}

/** The vec4 launch: n / 4 items, view offsets in vec4 units (in elements for a broadcast scalar view). */
function launchVec4(rt: WebGPURuntime, k: KernelDef, bufs: Bindable[], n: number, L: Layout, scalarView = -1): void {
  rt.dispatch(k, bufs, (p) => {
    p.u(0, n / 4);
    L.offsets.forEach((o, i) => p.u(2 + i, i === scalarView ? o : o / 4));
  }, grid1D(n / 4));
}

/**
 * The operand of a binary that is one broadcast element (stride 0) while the other is vec4-able:
 * the vec4 kernel splats it (a scalar multiply over 2M floats took ~40% longer strided).
 */
function scalarOperand(kind: RankKind, n: number, L: Layout, dt: DType): 'a' | 'b' | null {
  if (kind !== 1 || n % 4 !== 0 || dt === 'f16') return null;
  const [sa, sb] = [L.strides[0]![0], L.strides[1]![0]];
  if (sa === 0 && sb === 1 && L.offsets[1]! % 4 === 0) return 'a';
  if (sb === 0 && sa === 1 && L.offsets[0]! % 4 === 0) return 'b';
  return null;
}

export function fillWords(rt: WebGPURuntime, s: WGStorage, words: number, bits: number): void {
  if (words === 0) return;
  rt.dispatch(fillKernel(), [s], (p) => {
    p.u(0, words);
    p.u(5, bits);
  }, grid1D(words));
}

export function copy(rt: WebGPURuntime, x: View, dtype: DType): WGStorage {
  const s = rt.view(x, 'copy');
  const n = numel(x.shape);
  const L = layout('copy', x.shape, [x]);
  const out = rt.alloc(n, dtype);
  if (n === 0) return out;
  // an f16 output is written a packed pair per thread
  const threads = dtype === 'f16' ? Math.ceil(n / 2) : n;
  const kind = rankKind(L.shape, L.strides, dtype !== 'f16');
  launchStrided(rt, copyKernel(s.dtype, dtype, kind), kind, [s, out], n, L, threads);
  return out;
}

export function unary(rt: WebGPURuntime, op: UnaryOp, x: View): Storage {
  const s = rt.view(x, `unary ${op}`);
  unaryKernel(op, s.dtype, 'n'); // validates op/dtype before allocating
  const n = numel(x.shape);
  const L = layout(`unary ${op}`, x.shape, [x]);
  const out = rt.alloc(n, s.dtype === 'i32' ? 'i32' : 'f32');
  if (n === 0) return out;
  const kind = rankKind(L.shape, L.strides);
  if (v4(kind, n, L, [s.dtype])) launchVec4(rt, unaryKernel(op, s.dtype, 'v4'), [s, out], n, L);
  else launchStrided(rt, unaryKernel(op, s.dtype, kind), kind, [s, out], n, L);
  return out;
}

export function binary(rt: WebGPURuntime, op: BinaryOp, a: View, b: View): Storage {
  const sa = rt.view(a, `binary ${op}`);
  const sb = rt.view(b, `binary ${op}`);
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`webgpu: binary ${op}: shapes [${a.shape}] and [${b.shape}] differ`);
  }
  if (sa.dtype !== sb.dtype) throw new Error(`webgpu: binary ${op}: dtypes ${sa.dtype} and ${sb.dtype} differ`);
  const n = numel(a.shape);
  const L = layout(`binary ${op}`, a.shape, [a, b]);
  const kind = rankKind(L.shape, L.strides);
  binaryKernel(op, sa.dtype, kind); // validates op/dtype before allocating
  const out = rt.alloc(n, binaryOutDType(op, sa.dtype));
  if (n === 0) return out;
  const scalar = scalarOperand(kind, n, L, sa.dtype);
  if (v4(kind, n, L, [sa.dtype])) launchVec4(rt, binaryKernel(op, sa.dtype, 'v4'), [sa, sb, out], n, L);
  else if (scalar) launchVec4(rt, binaryKernel(op, sa.dtype, 'v4', scalar), [sa, sb, out], n, L, scalar === 'a' ? 0 : 1);
  else launchStrided(rt, binaryKernel(op, sa.dtype, kind), kind, [sa, sb, out], n, L);
  return out;
}

export function where(rt: WebGPURuntime, cond: View, a: View, b: View): Storage {
  const sc = rt.view(cond, 'where');
  const sa = rt.view(a, 'where');
  const sb = rt.view(b, 'where');
  if (sa.dtype !== sb.dtype) throw new Error(`webgpu: where: dtypes ${sa.dtype} and ${sb.dtype} differ`);
  for (const v of [cond, b]) {
    if (v.shape.length !== a.shape.length || v.shape.some((d, i) => d !== a.shape[i])) {
      throw new Error(`webgpu: where: shapes [${cond.shape}], [${a.shape}], [${b.shape}] differ`);
    }
  }
  const n = numel(a.shape);
  const L = layout('where', a.shape, [cond, a, b]);
  const out = rt.alloc(n, sa.dtype === 'i32' ? 'i32' : 'f32');
  if (n === 0) return out;
  const kind = rankKind(L.shape, L.strides);
  launchStrided(rt, whereKernel(sc.dtype, sa.dtype, kind), kind, [sc, sa, sb, out], n, L);
  return out;
}

export function accumulate(rt: WebGPURuntime, dst: Storage, dstOffset: number, src: View, mode: 'copy' | 'add'): void {
  const d = rt.st(dst, 'accumulate');
  let s = rt.view(src, 'accumulate');
  if (d.dtype === 'f16') throw new Error('webgpu: accumulate: dst must be f32 or i32, got f16');
  const n = numel(src.shape);
  if (!Number.isInteger(dstOffset) || dstOffset < 0 || dstOffset + n > d.size) {
    throw new Error(`webgpu: accumulate: ${n} elements at offset ${dstOffset} overflow a storage of ${d.size}`);
  }
  if (n === 0) return;
  let v: View = src;
  let temp: WGStorage | null = null;
  if (s === d) {
    // the same buffer cannot be bound read-only and writable in one dispatch: copy first
    temp = copy(rt, src, d.dtype);
    s = temp;
    v = { storage: temp, shape: [n], strides: [1], offset: 0 };
  }
  const L = layout('accumulate', v.shape, [v]);
  const kind = rankKind(L.shape, L.strides);
  launchStrided(rt, accumulateKernel(mode, s.dtype, d.dtype, kind), kind, [s, d], n, L, n, (p) => p.u(5, dstOffset));
  if (temp) rt.release(temp);
}

export function dropoutMask(rt: WebGPURuntime, size: number, p: number, seed: number): Storage {
  const out = rt.alloc(size, 'f32');
  if (size === 0) return out;
  const seedHash = hash32(seed >>> 0);
  const threshold = dropoutThreshold(p);
  const scale = 1 / (1 - p);
  rt.dispatch(dropoutKernel(), [out], (w) => {
    w.u(0, size);
    w.u(5, seedHash);
    w.u(6, threshold);
    w.f(7, scale);
  }, grid1D(size));
  return out;
}
