/**
 * The elementwise halves of a GRU cell as two fused ops (recurrent-router's LowRankGRU). A cell
 *   r = sigmoid(pr), z = sigmoid(pz), c = act(po + b), h' = (1 - z) * h + z * c
 * has a matmul between r and c (po = [r * h, x] @ W_o), so it fuses into the op before that matmul
 * (gruReset: r * h) and the op after it (gruUpdate: h'), one kernel each way instead of ~10.
 * The gradients recompute the gates from the pre-activations, so nothing extra is saved per round.
 */
import type { GruActivation } from '../backend.js';
import { fmtShape, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, onStorages, output, record, requireDType, sumToShape } from './core.js';
import { sum } from './reduce.js';

export type { GruActivation };

function checkSameShape(op: string, names: string[], ts: Tensor[]): void {
  ts.forEach((t, i) => {
    requireDType(op, t, ['f32']);
    if (!shapesEqual(t.shape, ts[0]!.shape)) {
      throw new Error(`${op}: ${names[i]} ${fmtShape(t.shape)} does not match ${names[0]} ${fmtShape(ts[0]!.shape)}`);
    }
  });
}

/** r * h with r = sigmoid(pr): the reset gate applied to the state; pr and h of one shape. */
export function gruReset(pr: Tensor, h: Tensor): Tensor {
  const op = 'gruReset';
  checkSameShape(op, ['pr', 'h'], [pr, h]);
  const be = backendOf(op, pr, h);
  const n = pr.size;
  const out = output(op, onStorages(op, [pr, h], ([p, s]) => be.gruReset(p!, s!, n)), pr.shape, []);
  return record(out, op, [pr, h], (g) => {
    const d = onStorages(op, [pr, h, g], ([p, s, gs]) => be.gruResetBackward(p!, s!, gs!, n));
    return [output(op, d.dpr, pr.shape, []), output(op, d.dh, h.shape, [])];
  });
}

/**
 * h' = (1 - z) * h + z * act(po + b) with z = sigmoid(pz): the GRU state update. pz, po and h share
 * a shape [..., cols]; b is [cols]; act is 'tanh' (default) or 'sigmoid'.
 */
export function gruUpdate(pz: Tensor, po: Tensor, b: Tensor, h: Tensor, act: GruActivation = 'tanh'): Tensor {
  const op = 'gruUpdate';
  checkSameShape(op, ['pz', 'po', 'h'], [pz, po, h]);
  requireDType(op, b, ['f32']);
  const cols = pz.shape[pz.rank - 1] ?? 1;
  if (b.rank !== 1 || b.shape[0] !== cols) throw new Error(`${op}: bias ${fmtShape(b.shape)} must be [${cols}] for pz ${fmtShape(pz.shape)}`);
  if (act !== 'tanh' && act !== 'sigmoid') throw new Error(`${op}: act must be 'tanh' or 'sigmoid', got '${String(act)}'`);
  const be = backendOf(op, pz, po, b, h);
  const rows = cols === 0 ? 0 : pz.size / cols;
  const ins = [pz, po, b, h];
  const out = output(op, onStorages(op, ins, ([z, o, bb, s]) => be.gruUpdate(z!, o!, bb!, s!, rows, cols, act)), pz.shape, []);
  return record(out, op, ins, (g) => {
    const d = onStorages(op, [...ins, g], ([z, o, bb, s, gs]) => be.gruUpdateBackward(z!, o!, bb!, s!, gs!, rows, cols, act));
    const dpo = output(op, d.dpo, po.shape, []);
    const db = b.requiresGrad ? sumToShape(dpo, b.shape, sum) : null;
    return [output(op, d.dpz, pz.shape, []), dpo, db, output(op, d.dh, h.shape, [])];
  });
}
