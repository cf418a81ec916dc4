/** Gather/scatter by integer index. Gathers and scatter-adds are each other's gradients. */
import { fmtShape, normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, output, record, requireDType } from './core.js';
import { contiguous, permute, reshape } from './shape.js';

function checkIndex(op: string, idx: Tensor): void {
  if (idx.dtype !== 'i32') throw new Error(`${op}: index tensor must be i32, got ${idx.dtype} ${fmtShape(idx.shape)}`);
}

/** Rows of a 2-D table: out[i, :] = x[idx[i], :] for idx of any shape (out shape idx.shape + [cols]). */
export function gatherRows(x: Tensor, idx: Tensor): Tensor {
  checkIndex('gatherRows', idx);
  requireDType('gatherRows', x, ['f32']);
  if (x.rank !== 2) throw new Error(`gatherRows: table must be 2-D, got ${fmtShape(x.shape)}`);
  const [rows, cols] = x.shape as [number, number];
  const be = backendOf('gatherRows', x, idx);
  const xc = contiguous(x);
  const ic = contiguous(idx);
  const s = be.gatherRows(xc.view('gatherRows').storage, ic.view('gatherRows').storage, rows, cols, idx.size);
  if (xc !== x) xc.dispose();
  const out = output('gatherRows', s, [...idx.shape, cols], []);
  return record(out, 'gatherRows', [x], (g) => [scatterAddRows(reshape(g, [idx.size, cols]), ic, rows)]);
}

/** Embedding lookup: weight [vocab, dim], ids i32 of any shape -> ids.shape + [dim]. */
export const embedding = (weight: Tensor, ids: Tensor) => gatherRows(weight, ids);

/** out[r, :] = sum of src[i, :] over i with idx[i] == r; src [n, cols] -> [rows, cols]. */
export function scatterAddRows(src: Tensor, idx: Tensor, rows: number): Tensor {
  checkIndex('scatterAddRows', idx);
  requireDType('scatterAddRows', src, ['f32']);
  if (src.rank !== 2 || idx.size !== src.shape[0]) {
    throw new Error(`scatterAddRows: src ${fmtShape(src.shape)} must be [n, cols] with n = idx size ${idx.size}`);
  }
  const be = backendOf('scatterAddRows', src, idx);
  const sc = contiguous(src);
  const ic = contiguous(idx);
  const cols = src.shape[1]!;
  const s = be.scatterAddRows(sc.view('scatterAddRows').storage, ic.view('scatterAddRows').storage, idx.size, cols, rows);
  if (sc !== src) sc.dispose();
  const out = output('scatterAddRows', s, [rows, cols], []);
  return record(out, 'scatterAddRows', [src], (g) => [gatherRows(g, ic)]);
}

/** Select entries along `axis` by a 1-D index (torch.index_select). */
export function indexSelect(x: Tensor, axis: number, idx: Tensor): Tensor {
  const a = normAxis('indexSelect', axis, x.rank);
  if (idx.rank !== 1) throw new Error(`indexSelect: index must be 1-D, got ${fmtShape(idx.shape)}`);
  const order = [a, ...x.shape.map((_, i) => i).filter((i) => i !== a)];
  const moved = permute(x, order);
  const rest = moved.shape.slice(1);
  const table = reshape(moved, [x.shape[a]!, rest.reduce((p, d) => p * d, 1)]);
  const picked = reshape(gatherRows(table, idx), [idx.size, ...rest]);
  const inv = new Array<number>(order.length);
  order.forEach((o, i) => (inv[o] = i));
  return permute(picked, inv);
}

/** out[..., j] = x[..., idx[..., j]] along the last axis (torch.gather on dim -1). */
export function takeAlongAxis(x: Tensor, idx: Tensor): Tensor {
  checkIndex('takeAlongAxis', idx);
  requireDType('takeAlongAxis', x, ['f32']);
  if (x.rank < 1 || idx.rank !== x.rank || idx.shape.slice(0, -1).some((d, i) => d !== x.shape[i])) {
    throw new Error(`takeAlongAxis: index ${fmtShape(idx.shape)} must match ${fmtShape(x.shape)} except in the last axis`);
  }
  const cols = x.shape[x.rank - 1]!;
  const k = idx.shape[idx.rank - 1]!;
  const rows = x.size / Math.max(cols, 1);
  const be = backendOf('takeAlongAxis', x, idx);
  const xc = contiguous(x);
  const ic = contiguous(idx);
  const s = be.gatherCols(xc.view('takeAlongAxis').storage, ic.view('takeAlongAxis').storage, rows, cols, k);
  if (xc !== x) xc.dispose();
  const out = output('takeAlongAxis', s, idx.shape, []);
  return record(out, 'takeAlongAxis', [x], (g) => [scatterAlongAxis(g, ic, cols)]);
}

/** out[..., c] = sum over j with idx[..., j] == c of src[..., j]; the gradient of takeAlongAxis. */
export function scatterAlongAxis(src: Tensor, idx: Tensor, cols: number): Tensor {
  checkIndex('scatterAlongAxis', idx);
  const k = src.shape[src.rank - 1]!;
  const rows = src.size / Math.max(k, 1);
  const be = backendOf('scatterAlongAxis', src, idx);
  const sc = contiguous(src);
  const ic = contiguous(idx);
  const s = be.scatterAddCols(sc.view('scatterAlongAxis').storage, ic.view('scatterAlongAxis').storage, rows, k, cols);
  if (sc !== src) sc.dispose();
  const out = output('scatterAlongAxis', s, [...src.shape.slice(0, -1), cols], []);
  return record(out, 'scatterAlongAxis', [src], (g) => [takeAlongAxis(g, ic)]);
}
