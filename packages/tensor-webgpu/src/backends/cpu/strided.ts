/**
 * Walking strided views. Kernels first turn their views into contiguous arrays (aliasing the
 * storage when it already is contiguous) and then run plain loops, so the strided logic lives
 * only here.
 */
import { f32ToF16Bits, type DType, type TypedArray } from '../../dtype.js';
import { f16Lut, uninitArray, uninitFloat, type FloatArray, type Precision, type RView } from './storage.js';

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Drop size-1 dims and merge neighbours that are contiguous with each other, so that e.g. a
 * transposed-then-broadcast view walks with as few odometer steps as possible.
 */
function coalesce(shape: readonly number[], strides: readonly number[]): { sh: number[]; st: number[] } {
  const sh: number[] = [];
  const st: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (d === 1) continue;
    const s = strides[i];
    const last = sh.length - 1;
    if (last >= 0 && st[last] === s * d) {
      sh[last] *= d;
      st[last] = s;
    } else {
      sh.push(d);
      st.push(s);
    }
  }
  return { sh, st };
}

export function isContiguousView(v: RView): boolean {
  let acc = 1;
  for (let i = v.shape.length - 1; i >= 0; i--) {
    if (v.shape[i] !== 1 && v.strides[i] !== acc) return false;
    acc *= v.shape[i];
  }
  return true;
}

/**
 * A view prepared for repeated range gathers: dims coalesced once, so kernels that walk a strided
 * operand block by block pay for the shape analysis once per call, not once per block.
 */
export interface Walker extends Pick<RView, 'data' | 'offset'> {
  readonly sh: readonly number[];
  readonly st: readonly number[];
  readonly numel: number;
  /** Row-major contiguous: element i lives at data[offset + i]. */
  readonly contiguous: boolean;
  /** Every element is data[offset] (a broadcast scalar). */
  readonly scalar: boolean;
}

export function walker(v: RView): Walker {
  const { sh, st } = coalesce(v.shape, v.strides);
  const numel = numelOf(v.shape);
  return {
    data: v.data, offset: v.offset, sh, st, numel,
    contiguous: sh.length === 0 || (sh.length === 1 && st[0] === 1),
    scalar: st.every((s) => s === 0),
  };
}

/** out[o0 + i] = element (start + i) of the view in row-major order, for i < count. */
export function gatherRange(w: Walker, start: number, count: number, out: TypedArray, o0 = 0): void {
  if (count <= 0) return;
  const src = w.data;
  const { sh, st } = w;
  const r = sh.length;
  if (r === 0) {
    out.fill(src[w.offset], o0, o0 + count);
    return;
  }
  // Odometer position of `start`; `base` is the storage offset of the current row (last dim excluded).
  const idx = new Array<number>(r).fill(0);
  let base = w.offset;
  for (let d = r - 1, rem = start; d >= 0; d--) {
    idx[d] = rem % sh[d];
    rem = (rem - idx[d]) / sh[d];
    if (d < r - 1) base += idx[d] * st[d];
  }
  const n = sh[r - 1];
  const s = st[r - 1];
  const sameType = src.constructor === out.constructor;
  let j = idx[r - 1];
  let o = o0;
  let left = count;
  while (left > 0) {
    const len = Math.min(n - j, left);
    const p0 = base + j * s;
    if (s === 1 && sameType) out.set(src.subarray(p0, p0 + len), o);
    else if (s === 0) out.fill(src[p0], o, o + len);
    else for (let k = 0, p = p0; k < len; k++, p += s) out[o + k] = src[p];
    o += len;
    left -= len;
    j = 0;
    for (let d = r - 2; d >= 0; d--) {
      base += st[d];
      if (++idx[d] < sh[d]) break;
      base -= st[d] * sh[d];
      idx[d] = 0;
    }
  }
}

/** The storage offsets of a view's elements in row-major order (relative to its offset). */
export function elementOffsets(shape: readonly number[], strides: readonly number[]): Float64Array {
  const out = new Float64Array(numelOf(shape));
  const { sh, st } = coalesce(shape, strides);
  const idx = new Array<number>(sh.length).fill(0);
  let p = 0;
  for (let k = 0; k < out.length; k++) {
    out[k] = p;
    for (let d = sh.length - 1; d >= 0; d--) {
      p += st[d];
      if (++idx[d] < sh[d]) break;
      p -= st[d] * sh[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Copy the elements of a view in row-major order into out[0..numel). Element type is preserved. */
export function gatherInto(v: RView, out: TypedArray): void {
  const w = walker(v);
  gatherRange(w, 0, w.numel, out);
}

/** Contiguous elements of a view in its own dtype; ALIASES the storage when already contiguous. */
export function contiguous(v: RView, precision: Precision): TypedArray {
  const n = numelOf(v.shape);
  if (isContiguousView(v)) return v.data.subarray(v.offset, v.offset + n);
  const out = uninitArray(precision, v.dtype, n);
  gatherInto(v, out);
  return out;
}

/** A fresh contiguous copy of a view in its own dtype. */
export function contiguousCopy(v: RView, precision: Precision): TypedArray {
  const out = uninitArray(precision, v.dtype, numelOf(v.shape));
  gatherInto(v, out);
  return out;
}

/** Contiguous float values of a view (f16 decoded, i32 converted); may alias a float storage. */
export function floatValues(v: RView, precision: Precision): FloatArray {
  if (v.dtype === 'f32') return contiguous(v, precision) as FloatArray;
  const raw = contiguous(v, precision);
  const out = uninitFloat(precision, raw.length);
  if (v.dtype === 'f16') {
    const lut = f16Lut();
    for (let i = 0; i < raw.length; i++) out[i] = lut[raw[i]];
  } else {
    for (let i = 0; i < raw.length; i++) out[i] = raw[i];
  }
  return out;
}

/** Contiguous copy of a view cast to `dtype`: float to i32 truncates toward zero. */
export function castCopy(v: RView, dtype: DType, precision: Precision): TypedArray {
  if (v.dtype === dtype) return contiguousCopy(v, precision);
  const n = numelOf(v.shape);
  const out = uninitArray(precision, dtype, n);
  const vals = v.dtype === 'i32' ? contiguous(v, precision) : floatValues(v, precision);
  if (dtype === 'f16') {
    for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(vals[i]);
  } else if (dtype === 'i32') {
    // Int32Array stores apply ToInt32 (truncate, wrap); NaN becomes 0.
    for (let i = 0; i < n; i++) out[i] = vals[i];
  } else {
    for (let i = 0; i < n; i++) out[i] = vals[i];
  }
  return out;
}
