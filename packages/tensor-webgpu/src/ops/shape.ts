/** Shape ops. Most are zero-copy views; their gradients are the inverse view. */
import type { DType } from '../dtype.js';
import { contiguousStrides, fmtShape, normAxis, numel, shapesEqual, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { expandView, output, record, sumToShape } from './core.js';
import { sum } from './reduce.js';
import { zeros } from './create.js';

/**
 * Strides that let `shape` view the same elements as (oldShape, oldStrides), or null when the
 * layout forbids it (then reshape copies). Same algorithm as PyTorch's computeStride.
 */
export function viewStrides(oldShape: Shape, oldStrides: readonly number[], shape: Shape): number[] | null {
  if (numel(oldShape) === 0) return contiguousStrides(shape);
  const out = new Array<number>(shape.length);
  let viewD = shape.length - 1;
  let chunkBase = oldStrides[oldStrides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    tensorNumel *= oldShape[d]!;
    if (d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= shape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = oldStrides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return out;
}

function resolveShape(op: string, size: number, shape: readonly number[]): number[] {
  const s = [...shape];
  const hole = s.indexOf(-1);
  if (hole >= 0) {
    const rest = s.reduce((p, d, i) => (i === hole ? p : p * d), 1);
    if (rest === 0 || size % rest !== 0) throw new Error(`${op}: cannot infer -1 in ${fmtShape(shape)} for ${size} elements`);
    s[hole] = size / rest;
  }
  if (numel(s) !== size) throw new Error(`${op}: cannot reshape ${size} elements to ${fmtShape(shape)}`);
  return s;
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = resolveShape('reshape', x.size, shape);
  if (shapesEqual(s, x.shape)) return x;
  const st = viewStrides(x.shape, x.strides, s);
  const out = st ? x.viewAs(s, st) : reshapeCopy(x, s);
  return record(out, 'reshape', [x], (g) => [reshape(g, x.shape)]);
}

function reshapeCopy(x: Tensor, s: number[]): Tensor {
  const c = contiguous(x);
  const out = c.viewAs(s, contiguousStrides(s));
  if (c !== x) c.dispose();
  return out;
}

export function permute(x: Tensor, order: readonly number[]): Tensor {
  const ax = order.map((a) => normAxis('permute', a, x.rank));
  if (ax.length !== x.rank || new Set(ax).size !== ax.length) {
    throw new Error(`permute: order [${order}] is not a permutation of ${x.rank} axes`);
  }
  const out = x.viewAs(ax.map((a) => x.shape[a]!), ax.map((a) => x.strides[a]!));
  const inv = new Array<number>(ax.length);
  ax.forEach((a, i) => (inv[a] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inv)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const i = normAxis('transpose', a, x.rank);
  const j = normAxis('transpose', b, x.rank);
  const order = x.shape.map((_, k) => k);
  order[i] = j;
  order[j] = i;
  return permute(x, order);
}

/** Broadcast to `shape` without copying (stride 0); -1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const off = shape.length - x.rank;
  const s = shape.map((d, i) => (d === -1 ? x.shape[i - off]! : d));
  if (shapesEqual(s, x.shape)) return x;
  const v = expandView('expand', x.view('expand'), s);
  const out = x.viewAs(v.shape, v.strides);
  return record(out, 'expand', [x], (g) => [sumToShape(g, x.shape, sum)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.rank + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${axis} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normAxis('flatten', start, x.rank);
  const e = normAxis('flatten', end, x.rank);
  const mid = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return reshape(x, [...x.shape.slice(0, s), mid, ...x.shape.slice(e + 1)]);
}

/** A view of `length` entries along one axis starting at `start`. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis('narrow', axis, x.rank);
  const d = x.shape[a]!;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > d) {
    throw new Error(`narrow: range [${start}, ${start + length}) out of bounds for axis ${a} of size ${d} in ${fmtShape(x.shape)}`);
  }
  if (start === 0 && length === d) return x;
  const s = [...x.shape];
  s[a] = length;
  const out = x.viewAs(s, x.strides, x.offset + start * x.strides[a]!);
  return record(out, 'narrow', [x], (g) => {
    const parts: Tensor[] = [];
    const pad = (n: number) => {
      const ps = [...x.shape];
      ps[a] = n;
      return zeros(ps, { backend: x.backend });
    };
    if (start > 0) parts.push(pad(start));
    parts.push(g);
    if (start + length < d) parts.push(pad(d - start - length));
    return [concat(parts, a)];
  });
}

/** Slice with per-axis [start, end) bounds (negative ends count from the back). */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor {
  let out = x;
  for (let a = 0; a < starts.length; a++) {
    const d = x.shape[a]!;
    const s = starts[a]! < 0 ? starts[a]! + d : starts[a]!;
    const e = (ends[a] ?? d) < 0 ? ends[a]! + d : Math.min(ends[a] ?? d, d);
    out = narrow(out, a, s, Math.max(0, e - s));
  }
  return out;
}

/** A contiguous copy (the tensor itself when already contiguous, unless `force`). */
export function contiguous(x: Tensor, force = false): Tensor {
  if (!force && x.isContiguous && x.offset === 0 && x.buffer('contiguous').storage.size === x.size) return x;
  const out = output('contiguous', x.backend.copy(x.view('contiguous'), x.dtype), x.shape, []);
  return record(out, 'contiguous', [x], (g) => [g]);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (dtype === x.dtype) return x;
  const out = output('cast', x.backend.copy(x.view('cast'), dtype), x.shape, []);
  if (dtype === 'i32') return out;
  return record(out, 'cast', [x], (g) => [x.dtype === 'i32' ? null : cast(g, x.dtype)]);
}

/** Join tensors along an axis: each part is copied once into a buffer laid out with that axis first. */
export function concat(parts: readonly Tensor[], axis = 0): Tensor {
  if (parts.length === 0) throw new Error('concat: no tensors');
  const first = parts[0]!;
  const a = normAxis('concat', axis, first.rank);
  const dtype = first.dtype;
  parts.forEach((p, i) => {
    if (p.rank !== first.rank || p.shape.some((d, k) => k !== a && d !== first.shape[k])) {
      throw new Error(`concat: part ${i} has shape ${fmtShape(p.shape)}, incompatible with ${fmtShape(first.shape)} along axis ${a}`);
    }
    if (p.dtype !== dtype) throw new Error(`concat: part ${i} has dtype ${p.dtype}, expected ${dtype}`);
    if (p.backend !== first.backend) throw new Error(`concat: part ${i} lives on another backend`);
  });
  const total = parts.reduce((n, p) => n + p.shape[a]!, 0);
  const shape = [...first.shape];
  shape[a] = total;
  // Layout [axis, ...others]: every part is one contiguous run, written by one accumulate.
  const order = [a, ...shape.map((_, i) => i).filter((i) => i !== a)];
  const pshape = order.map((i) => shape[i]!);
  const be = first.backend;
  if (dtype === 'f16') throw new Error('concat: f16 is a storage type; cast parts to f32 first');
  const fill = be.fill(numel(shape), dtype, 0);
  let off = 0;
  for (const p of parts) {
    const v = p.view('concat');
    be.accumulate(fill, off, { ...v, shape: order.map((i) => v.shape[i]!), strides: order.map((i) => v.strides[i]!) }, 'copy');
    off += p.size;
  }
  const buf = Tensor.fromStorage(fill, pshape);
  const inv = new Array<number>(order.length);
  order.forEach((o, i) => (inv[o] = i));
  const pst = contiguousStrides(pshape);
  const out = buf.viewAs(shape, inv.map((i) => pst[i]!));
  buf.dispose();
  let start = 0;
  const bounds = parts.map((p) => [start, (start += p.shape[a]!)] as const);
  return record(out, 'concat', [...parts], (g) => bounds.map(([s, e]) => narrow(g, a, s, e - s)));
}

export function stack(parts: readonly Tensor[], axis = 0): Tensor {
  const a = normAxis('stack', axis, (parts[0]?.rank ?? 0) + 1);
  return concat(parts.map((p) => unsqueeze(p, a)), a);
}

/** Split along an axis into pieces of the given sizes (or `sizes` equal pieces when a number). */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis('split', axis, x.rank);
  const d = x.shape[a]!;
  const list = typeof sizes === 'number' ? Array.from({ length: Math.ceil(d / sizes) }, (_, i) => Math.min(sizes, d - i * sizes)) : [...sizes];
  if (list.reduce((p, n) => p + n, 0) !== d) throw new Error(`split: sizes [${list}] do not sum to ${d} (axis ${a} of ${fmtShape(x.shape)})`);
  let s = 0;
  return list.map((n) => narrow(x, a, (s += n) - n, n));
}
