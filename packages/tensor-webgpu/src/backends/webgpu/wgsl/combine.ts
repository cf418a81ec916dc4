/**
 * The mixture-of-experts combine y[t] = sum_j w[t, j] v[t*k + j] (backend.ts combineRows) and its
 * gradient. Forward: segments of an output row per thread (common.ts segmentedMain), so the row's
 * offsets are computed once per segment rather than a div/mod per element. Backward: one row of v
 * (a (token, choice) pair) per thread or per workgroup (rows.ts rowWG), writing dv and reducing
 * dw = dot(v row, g row) over d in the same pass.
 * Params: forward 0 t, 1 d, 2 k; backward 0 rows (t * k), 1 cols (d), 2 k.
 */
import type { KernelDef } from '../pipelines.js';
import { PRELUDE, ROWS_SEG, bind, segmentedMain } from './common.js';
import { rowHead, wgReduce } from './rows.js';

export function combineRowsKernel(): KernelDef {
  return {
    key: 'combineRows',
    code: () => `${PRELUDE}${bind(1, 'V', 'f32')}${bind(2, 'WT', 'f32')}${bind(3, 'Y', 'f32', true)}
fn segment(row: u32, c0: u32, c1: u32) {
  let d = pu(1u);
  let k = pu(2u);
  let vb = row * k * d;
  for (var c = c0; c < c1; c++) {
    var s = 0.0;
    for (var j = 0u; j < k; j++) { s += WT[row * k + j] * V[vb + j * d + c]; }
    Y[row * d + c] = s;
  }
}
${segmentedMain('pu(1u)', 'pu(0u)', `${ROWS_SEG}u`)}`,
  };
}

export function combineRowsBackwardKernel(W: number): KernelDef {
  return {
    key: `combineRowsBackward:${W}`,
    code: () => `${PRELUDE}${wgReduce(W)}${bind(1, 'V', 'f32')}${bind(2, 'WT', 'f32')}${bind(3, 'G', 'f32')}${bind(4, 'DV', 'f32', true)}${bind(5, 'DW', 'f32', true)}${rowHead(W)}
  let gb = (item / pu(2u)) * cols;
  let wv = WT[item];
  var acc = 0.0;
  for (var j = li; j < cols; j += ${W}u) {
    let g = G[gb + j];
    DV[base + j] = wv * g;
    acc += V[base + j] * g;
  }
  let s = wgSum(acc, li);
  if (li == 0u) { DW[item] = s; }
}`,
  };
}
