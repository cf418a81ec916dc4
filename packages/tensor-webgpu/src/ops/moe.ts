/**
 * Mixture-of-experts: per-row expert matmul. Each row of x multiplies the expert weight its index
 * picks, on the device, with no host readback of the routing. gatherMatmul and
 * gatherMatmulGradW are each other's gradients (with a transposed weight view).
 */
import { fmtShape, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, output, record, requireDType } from './core.js';
import { contiguous, transpose } from './shape.js';

/** Validate idx against the leading shape of `rows` (x or g); returns m, the number of rows. */
function checkRows(op: string, rows: Tensor, name: string, idx: Tensor): number {
  if (idx.dtype !== 'i32') throw new Error(`${op}: index tensor must be i32, got ${idx.dtype} ${fmtShape(idx.shape)}`);
  requireDType(op, rows, ['f32']);
  if (rows.rank < 1) throw new Error(`${op}: ${name} must have at least one dim, got ${fmtShape(rows.shape)}`);
  const lead = rows.shape.slice(0, -1);
  if (!shapesEqual(idx.shape, lead)) {
    throw new Error(`${op}: idx ${fmtShape(idx.shape)} must have ${name}'s leading shape ${fmtShape(lead)} (${name} ${fmtShape(rows.shape)})`);
  }
  return idx.size;
}

/**
 * out[..., :] = x[..., :] @ w[idx[...]]: x [..., k] f32, w [e, k, n] f32 or f16 (any view, e.g. a
 * transposed [e, n, k] weight), idx i32 with x's leading shape, values in [0, e) -> [..., n].
 * Gradients flow to x and w; idx has none.
 */
export function gatherMatmul(x: Tensor, w: Tensor, idx: Tensor): Tensor {
  const op = 'gatherMatmul';
  const m = checkRows(op, x, 'x', idx);
  requireDType(op, w, ['f32', 'f16']);
  if (w.rank !== 3) throw new Error(`${op}: w must be [e, k, n], got ${fmtShape(w.shape)}`);
  const [e, kw, n] = w.shape as [number, number, number];
  const k = x.shape[x.rank - 1]!;
  if (k !== kw) throw new Error(`${op}: x ${fmtShape(x.shape)} has k = ${k} but w ${fmtShape(w.shape)} has k = ${kw}`);
  const be = backendOf(op, x, w, idx);
  const xc = contiguous(x);
  const ic = contiguous(idx);
  const s = be.gatherMatmul(xc.view(op).storage, w.view(op), ic.view(op).storage, m, k, n, e);
  if (xc !== x) xc.dispose();
  const out = output(op, s, [...idx.shape, n], []);
  return record(out, op, [x, w], (g) => [
    x.requiresGrad ? gatherMatmul(g, transpose(w), ic) : null,
    w.requiresGrad ? gatherMatmulGradW(x, g, ic, e) : null,
  ]);
}

/**
 * The weight gradient of gatherMatmul: out[j] = sum over rows r with idx[r] == j of
 * outer(x[r, :], g[r, :]), rows added in order (deterministic); x [..., k], g [..., n], idx with
 * their leading shape -> [e, k, n]. Experts no row picks get zeros.
 */
export function gatherMatmulGradW(x: Tensor, g: Tensor, idx: Tensor, e: number): Tensor {
  const op = 'gatherMatmulGradW';
  const m = checkRows(op, x, 'x', idx);
  checkRows(op, g, 'g', idx);
  if (!Number.isInteger(e) || e < 0) throw new Error(`${op}: expert count must be a non-negative integer, got ${e}`);
  const k = x.shape[x.rank - 1]!;
  const n = g.shape[g.rank - 1]!;
  const be = backendOf(op, x, g, idx);
  const xc = contiguous(x);
  const gc = contiguous(g);
  const ic = contiguous(idx);
  const s = be.gatherMatmulGradW(xc.view(op).storage, gc.view(op).storage, ic.view(op).storage, m, k, n, e);
  if (xc !== x) xc.dispose();
  if (gc !== g) gc.dispose();
  const out = output(op, s, [e, k, n], []);
  // d/dx_r = G[idx_r] @ g_r, d/dg_r = x_r @ G[idx_r]
  return record(out, op, [x, g], (G) => [
    x.requiresGrad ? gatherMatmul(g, transpose(G), ic) : null,
    g.requiresGrad ? gatherMatmul(x, G, ic) : null,
  ]);
}
