/**
 * Fused GCN propagation over token-shared node features (backend.ts gcnShared). The node states
 * z = base[i] + coef[i] q[t] are recomputed in registers in both directions rather than stored:
 * recomputing costs one exp per element, storing them would cost a [T, M, w] round trip.
 * Params: 0 t, 1 m, 2 w.
 */
import type { KernelDef } from '../pipelines.js';
import { bind, main1D, mainPerGroup, PRELUDE } from './common.js';
import { wgReduce } from './rows.js';

/** Lanes per column in the backward kernel: they split the tokens, then reduce over them. */
export const GCN_BACKWARD_WG = 64;

const ARGS = `${bind(1, 'Q', 'f32')}${bind(2, 'B', 'f32')}${bind(3, 'C', 'f32')}${bind(4, 'F', 'f32')}`;

/** One thread per (token, node): out[t, i] = sum_k silu(z) proj[k]. */
export function gcnSharedKernel(): KernelDef {
  return {
    key: 'gcnShared',
    code: () => `${PRELUDE}${ARGS}${bind(5, 'O', 'f32', true)}${main1D('pu(0u) * pu(1u)')}
  let m = pu(1u); let w = pu(2u);
  let t = gi / m; let i = gi % m;
  let c = C[i];
  var acc = 0.0;
  for (var k = 0u; k < w; k++) {
    let z = B[i * w + k] + c * Q[t * w + k];
    acc += z / (1.0 + exp(-z)) * F[k];
  }
  O[gi] = acc;
}`,
  };
}

/**
 * One workgroup per column k; its lanes split the tokens. dq[t, k] is owned by one lane (no
 * races); the sums over tokens (dbase, dcoefCols, dproj) are workgroup reductions, so no atomics.
 * dproj is written as row m of the dcoefCols buffer ([m + 1, w]): a binding of its own would make
 * 9 storage buffers, over WebGPU's default maxStorageBuffersPerShaderStage of 8.
 */
export function gcnSharedBackwardKernel(): KernelDef {
  const W = GCN_BACKWARD_WG;
  return {
    key: 'gcnSharedBackward',
    code: () => `${PRELUDE}${wgReduce(W)}${ARGS}${bind(5, 'G', 'f32')}${bind(6, 'DQ', 'f32', true)}${bind(7, 'DB', 'f32', true)}${bind(8, 'DC', 'f32', true)}${mainPerGroup(W)}
  let t = pu(0u); let m = pu(1u); let w = pu(2u);
  if (item >= w) { return; }
  let k = item;
  let f = F[k];
  var df = 0.0;
  for (var i = 0u; i < m; i++) {
    let b = B[i * w + k];
    let c = C[i];
    var db = 0.0;
    var dc = 0.0;
    for (var r = li; r < t; r += ${W}u) {
      let qv = Q[r * w + k];
      let z = b + c * qv;
      let s = 1.0 / (1.0 + exp(-z));
      let g = G[r * m + i];
      let gz = g * f * s * (1.0 + z * (1.0 - s));
      let prev = select(DQ[r * w + k], 0.0, i == 0u);
      DQ[r * w + k] = prev + c * gz;
      db += gz;
      dc += gz * qv;
      df += g * z * s;
    }
    let sb = wgSum(db, li);
    let sc = wgSum(dc, li);
    if (li == 0u) { DB[i * w + k] = sb; DC[i * w + k] = sc; }
  }
  let sf = wgSum(df, li);
  if (li == 0u) { DC[m * w + k] = sf; }
}`,
  };
}
