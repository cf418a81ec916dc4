/**
 * The mixture-of-experts combine: each token's output is the router-weighted sum of its K
 * (token, expert) pair rows. Unfused this is a broadcast mul writing a [T, K, d] product and a sum
 * over K, and a gradient of two more full-size passes; here one kernel writes y, and one writes dv
 * while reducing dw.
 */
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, onStorages, output, record, requireDType } from './core.js';

/**
 * y[t] = sum_k w[t, k] v[t*K + k]: v [T*K, d] (row t*K + k is token t's k-th choice), w [T, K]
 * -> [T, d]. Gradients: dv[t*K + k] = w[t, k] g[t], dw[t, k] = dot(v[t*K + k], g[t]).
 */
export function combineRows(v: Tensor, w: Tensor): Tensor {
  const op = 'combineRows';
  requireDType(op, v, ['f32']);
  requireDType(op, w, ['f32']);
  const [T, K] = w.shape as [number, number];
  if (v.rank !== 2 || w.rank !== 2 || v.shape[0] !== T * K) {
    throw new Error(`${op}: expects v [T*K, d] and w [T, K]; got v ${fmtShape(v.shape)}, w ${fmtShape(w.shape)}`);
  }
  const d = v.shape[1]!;
  const be = backendOf(op, v, w);
  const out = output(op, onStorages(op, [v, w], ([vs, ws]) => be.combineRows(vs!, ws!, T, K, d)), [T, d], []);
  return record(out, op, [v, w], (g) => {
    const r = onStorages(op, [v, w, g], ([vs, ws, gs]) => be.combineRowsBackward(vs!, ws!, gs!, T, K, d));
    return [output(op, r.dv, v.shape, []), output(op, r.dw, w.shape, [])];
  });
}
