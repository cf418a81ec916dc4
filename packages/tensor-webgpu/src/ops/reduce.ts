/** Reductions over axes. The reduced axes are permuted to the back as a view; one kernel reduces them. */
import type { ReduceOp } from '../backend.js';
import { normAxes, normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { output, record, requireDType } from './core.js';
import { div, eq, mul } from './elementwise.js';
import { expand, reshape } from './shape.js';

function keptShape(shape: readonly number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  const name = op;
  const keep = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const order = [...keep, ...axes];
  const v = x.view(name);
  const pv = { ...v, shape: order.map((i) => v.shape[i]!), strides: order.map((i) => v.strides[i]!) };
  const outShape = keepDims ? keptShape(x.shape, axes) : keep.map((i) => x.shape[i]!);
  return output(name, x.backend.reduce(op, pv, axes.length), outShape, []);
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  requireDType('sum', x, ['f32', 'i32']);
  const ax = normAxes('sum', axes, x.rank);
  const out = reduceRaw('sum', x, ax, keepDims);
  return record(out, 'sum', [x], (g) => {
    const gk = keepDims ? g : reshape(g, keptShape(x.shape, ax));
    return [expand(gk, x.shape)];
  });
}

export function mean(x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  const ax = normAxes('mean', axes, x.rank);
  const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
  return div(sum(x, ax, keepDims), n);
}

/** Max/min: the gradient is shared equally among tied extrema. */
function extreme(op: 'max' | 'min', x: Tensor, axes?: number | number[], keepDims = false): Tensor {
  requireDType(op, x, ['f32', 'i32']);
  const ax = normAxes(op, axes, x.rank);
  const out = reduceRaw(op, x, ax, keepDims);
  return record(out, op, [x], (g) => {
    const shape = keptShape(x.shape, ax);
    const m = eq(x, keepDims ? out : reshape(out, shape));
    const count = sum(m, ax, true);
    const gk = keepDims ? g : reshape(g, shape);
    return [mul(m, div(gk, count))];
  });
}
export const max = (x: Tensor, axes?: number | number[], keepDims = false) => extreme('max', x, axes, keepDims);
export const min = (x: Tensor, axes?: number | number[], keepDims = false) => extreme('min', x, axes, keepDims);

/** Index (i32) of the largest value along one axis; ties give the lowest index. */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  return reduceRaw('argmax', x, [normAxis('argmax', axis, x.rank)], keepDims);
}
export function argmin(x: Tensor, axis = -1, keepDims = false): Tensor {
  return reduceRaw('argmin', x, [normAxis('argmin', axis, x.rank)], keepDims);
}
