/**
 * Fused GCN propagation for graph routers whose expert-node features are shared by every token
 * (GMoE, SPEC section 3): the per-token node states [T, M, w] exist only inside the kernel.
 */
import type { Storage } from '../backend.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, output, record, requireDType } from './core.js';
import { sum } from './reduce.js';
import { contiguous, reshape } from './shape.js';

/**
 * out[t, i] = sum_k silu(base[i, k] + coef[i] q[t, k]) proj[k]: q [T, w] (the token node after
 * its layer weight), base [M, w] (the shared expert rows of A_hat H W), coef [M] or [M, 1] (A_hat's
 * token column), proj [w] or [w, 1] (the next layer's weight folded with the projection) -> [T, M].
 * Equal to the composition silu(base + coef q) . proj; gradients flow to all four operands (first
 * order only: the gradient kernels record no graph of their own).
 */
export function gcnShared(q: Tensor, base: Tensor, coef: Tensor, proj: Tensor): Tensor {
  const op = 'gcnShared';
  for (const x of [q, base, coef, proj]) requireDType(op, x, ['f32']);
  const shapes = `q ${fmtShape(q.shape)}, base ${fmtShape(base.shape)}, coef ${fmtShape(coef.shape)}, proj ${fmtShape(proj.shape)}`;
  if (q.rank !== 2 || base.rank !== 2) throw new Error(`${op}: q must be [T, w] and base [M, w], got ${shapes}`);
  const [t, w] = q.shape as [number, number];
  const m = base.shape[0]!;
  const vec = (x: Tensor, n: number) => (x.rank === 1 && x.shape[0] === n) || (x.rank === 2 && x.shape[0] === n && x.shape[1] === 1);
  if (base.shape[1] !== w || !vec(coef, m) || !vec(proj, w)) {
    throw new Error(`${op}: expected q [T, w], base [M, w], coef [M] or [M, 1], proj [w] or [w, 1], got ${shapes}`);
  }
  const be = backendOf(op, q, base, coef, proj);
  const cs = [q, base, coef, proj].map((x) => contiguous(x));
  const st = () => cs.map((x) => x.view(op).storage) as [Storage, Storage, Storage, Storage];
  const out = output(op, be.gcnShared(...st(), t, m, w), [t, m], []);
  return record(out, op, [q, base, coef, proj], (g) => {
    const gc = contiguous(g);
    const r = be.gcnSharedBackward(...st(), gc.view(op).storage, t, m, w);
    if (gc !== g) gc.dispose();
    const dcoefCols = output(op, r.dcoefCols, [m, w], []);
    const dcoef = coef.requiresGrad ? reshape(sum(dcoefCols, -1), coef.shape) : null;
    dcoefCols.dispose();
    const keep = (x: Tensor, s: Storage, shape: number[]) => {
      const d = output(op, s, shape, []);
      return x.requiresGrad ? d : (d.dispose(), null);
    };
    return [keep(q, r.dq, [t, w]), keep(base, r.dbase, [m, w]), dcoef, keep(proj, r.dproj, proj.shape as number[])];
  });
}
