/** Top-k and sort along the last axis (or a given one); gradients flow through the values. */
import { fmtShape, normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { output, record, requireDType } from './core.js';
import { scatterAlongAxis } from './indexing.js';
import { contiguous, transpose } from './shape.js';

export interface SortResult {
  values: Tensor;
  /** i32 positions in the input along the sorted axis. */
  indices: Tensor;
}

function sortLast(op: string, x: Tensor, k: number, descending: boolean): SortResult {
  requireDType(op, x, ['f32']);
  const cols = x.shape[x.rank - 1] ?? 1;
  if (!Number.isInteger(k) || k < 0 || k > cols) throw new Error(`${op}: k = ${k} out of range for last axis of ${fmtShape(x.shape)}`);
  const rows = x.size / Math.max(cols, 1);
  const xc = contiguous(x);
  const r = x.backend.sortRows(xc.view(op).storage, rows, cols, k, descending);
  if (xc !== x) xc.dispose();
  const shape = [...x.shape.slice(0, -1), k];
  const indices = output(op, r.indices, shape, []);
  const values = record(output(op, r.values, shape, []), op, [x], (g) => [scatterAlongAxis(g, indices, cols)]);
  return { values, indices };
}

function alongAxis(x: Tensor, axis: number, f: (t: Tensor) => SortResult): SortResult {
  const a = normAxis('sort', axis, x.rank);
  if (a === x.rank - 1) return f(x);
  const r = f(transpose(x, a, -1));
  return { values: transpose(r.values, a, -1), indices: transpose(r.indices, a, -1) };
}

/** The k largest (or smallest) entries along an axis, sorted; ties keep increasing index order. */
export function topk(x: Tensor, k: number, opts: { axis?: number; largest?: boolean } = {}): SortResult {
  return alongAxis(x, opts.axis ?? -1, (t) => sortLast('topk', t, k, opts.largest ?? true));
}

/** Stable sort along an axis. */
export function sort(x: Tensor, opts: { axis?: number; descending?: boolean } = {}): SortResult {
  return alongAxis(x, opts.axis ?? -1, (t) => sortLast('sort', t, t.shape[t.rank - 1] ?? 1, opts.descending ?? false));
}
