/** Host-side layout helpers for the strided kernels: dim coalescing and parameter packing. */
import type { Shape } from '../../shape.js';

export const MAX_RANK = 8;

export interface ParamWriter {
  u(i: number, v: number): void;
  i(i: number, v: number): void;
  f(i: number, v: number): void;
}

export interface Layout {
  shape: number[];
  /** strides[view][dim] */
  strides: number[][];
  offsets: number[];
}

/**
 * Drop size-1 dims and merge adjacent dims that are laid out consistently in every view, keeping
 * row-major iteration order. A rank-0 result becomes [1].
 */
export function coalesce(shape: Shape, strides: (readonly number[])[], offsets: number[]): Layout {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && st.every((s, v) => s[last] === strides[v]![d]! * n)) {
      // previous (outer) dim merges with this inner dim
      dims[last] = dims[last]! * n;
      st.forEach((s, v) => (s[last] = strides[v]![d]!));
      continue;
    }
    dims.push(n);
    st.forEach((s, v) => s.push(strides[v]![d]!));
  }
  if (dims.length === 0) {
    dims.push(shape.some((n) => n === 0) ? 0 : 1);
    st.forEach((s) => s.push(0));
  }
  return { shape: dims, strides: st, offsets };
}

export function checkRank(what: string, rank: number): void {
  if (rank > MAX_RANK) {
    throw new Error(`webgpu: ${what}: rank ${rank} exceeds the maximum of ${MAX_RANK} for strided kernels`);
  }
}

/** Write the standard strided block (words 1..4, 8..39) for up to 3 views. */
export function writeStrided(p: ParamWriter, L: Layout): void {
  p.u(1, L.shape.length);
  for (let v = 0; v < 3; v++) p.i(2 + v, L.offsets[v] ?? 0);
  for (let d = 0; d < L.shape.length; d++) {
    p.u(8 + d, L.shape[d]!);
    for (let v = 0; v < 3; v++) p.i(16 + 8 * v + d, L.strides[v]?.[d] ?? 0);
  }
}
