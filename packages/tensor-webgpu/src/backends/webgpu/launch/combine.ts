/** Launches of the mixture-of-experts combine and its gradient (wgsl/combine.ts). */
import type { Storage } from '../../../backend.js';
import { grid1D, type WebGPURuntime } from '../runtime.js';
import { segmentedThreads } from '../wgsl/common.js';
import { combineRowsBackwardKernel, combineRowsKernel } from '../wgsl/combine.js';
import { rowWG } from '../wgsl/rows.js';
import { rowsDispatch } from './rows.js';

function checkDims(what: string, t: number, k: number, d: number): void {
  for (const [n, v] of [['t', t], ['k', k], ['d', d]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`webgpu: ${what}: ${n} must be a non-negative integer, got ${v}`);
  }
}

export function combineRows(rt: WebGPURuntime, v: Storage, w: Storage, t: number, k: number, d: number): Storage {
  checkDims('combineRows', t, k, d);
  const ins = rt.inputs('combineRows', [v, t * k * d, 'v'], [w, t * k, 'w']);
  const y = rt.alloc(t * d, 'f32');
  if (t * d > 0) {
    rt.dispatch(combineRowsKernel(), [...ins, y], (p) => { p.u(0, t); p.u(1, d); p.u(2, k); }, grid1D(segmentedThreads(t, d)));
  }
  return y;
}

export function combineRowsBackward(
  rt: WebGPURuntime, v: Storage, w: Storage, g: Storage, t: number, k: number, d: number,
): { dv: Storage; dw: Storage } {
  checkDims('combineRowsBackward', t, k, d);
  const ins = rt.inputs('combineRowsBackward', [v, t * k * d, 'v'], [w, t * k, 'w'], [g, t * d, 'g']);
  const dv = rt.alloc(t * k * d, 'f32');
  const dw = rt.alloc(t * k, 'f32');
  const rows = t * k;
  if (rows > 0) {
    const W = rowWG(rows, d);
    rowsDispatch(rt, combineRowsBackwardKernel(W), W, [...ins, dv, dw], rows, d, (p) => p.u(2, k));
  }
  return { dv, dw };
}
