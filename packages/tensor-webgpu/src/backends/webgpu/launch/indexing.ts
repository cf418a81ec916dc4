/** Launches of the index kernels (wgsl/indexing.ts): row/column gather and scatter-add, row sort. */
import type { Storage } from '../../../backend.js';
import type { KernelDef } from '../pipelines.js';
import { grid1D, type WebGPURuntime, type WGStorage } from '../runtime.js';
import type { ParamWriter } from '../strided.js';
import { fillWords } from './elementwise.js';
import {
  csrCountKernel,
  csrFillByItemKernel,
  csrFillByRowKernel,
  csrScanKernel,
  csrSumKernel,
  gatherColsKernel,
  gatherRowsKernel,
  scatterAddColsKernel,
  sortRowsKernel,
} from '../wgsl/indexing.js';

/** Allocate an f32 output of `total` and run a thread-per-output kernel on it with params 0 total, 1 p1, 2 p2. */
function perOutput(rt: WebGPURuntime, kernel: () => KernelDef, ins: WGStorage[], total: number, p1: number, p2: number): Storage {
  const out = rt.alloc(total, 'f32');
  if (total === 0) return out;
  rt.dispatch(kernel(), [...ins, out], (p) => {
    p.u(0, total);
    p.u(1, p1);
    p.u(2, p2);
  }, grid1D(total));
  return out;
}

export function gatherRows(rt: WebGPURuntime, x: Storage, idx: Storage, rows: number, cols: number, n: number): Storage {
  const ins = rt.inputs('gatherRows', [x, rows * cols, 'x'], [idx, n, 'idx']);
  return perOutput(rt, gatherRowsKernel, ins, n * cols, rows, cols);
}

export function gatherCols(rt: WebGPURuntime, x: Storage, idx: Storage, rows: number, cols: number, k: number): Storage {
  const ins = rt.inputs('gatherCols', [x, rows * cols, 'x'], [idx, rows * k, 'idx']);
  return perOutput(rt, gatherColsKernel, ins, rows * k, cols, k);
}

export function scatterAddCols(rt: WebGPURuntime, g: Storage, idx: Storage, rows: number, k: number, cols: number): Storage {
  const ins = rt.inputs('scatterAddCols', [g, rows * k, 'g'], [idx, rows * k, 'idx']);
  return perOutput(rt, scatterAddColsKernel, ins, rows * cols, k, cols);
}

/**
 * CSR grouping of items by destination on the GPU: starts [rows + 1] and list [n] (item ids of each
 * row in increasing order). Out-of-range indices are left out. The caller releases both.
 */
export function csrBuild(rt: WebGPURuntime, si: WGStorage, n: number, rows: number): { starts: WGStorage; list: WGStorage } {
  const cnt = rt.alloc(rows, 'i32');
  const starts = rt.alloc(rows + 1, 'i32');
  const list = rt.alloc(n, 'i32');
  fillWords(rt, cnt, rows, 0);
  const nr = (p: ParamWriter) => {
    p.u(0, n);
    p.u(1, rows);
  };
  rt.dispatch(csrCountKernel(), [si, cnt], nr, grid1D(n));
  rt.dispatch(csrScanKernel(), [cnt, starts], (p) => p.u(0, rows), [1, 1, 1]);
  if (rows <= n) rt.dispatch(csrFillByRowKernel(), [si, starts, list], nr, grid1D(rows));
  else rt.dispatch(csrFillByItemKernel(), [si, starts, list], nr, grid1D(n));
  rt.release(cnt);
  return { starts, list };
}

/** Deterministic scatter-add: a CSR list of sources per destination row, each segment summed in order. */
export function scatterAddRows(rt: WebGPURuntime, src: Storage, idx: Storage, n: number, cols: number, rows: number): Storage {
  const [ss, si] = rt.inputs('scatterAddRows', [src, n * cols, 'src'], [idx, n, 'idx']);
  const out = rt.alloc(rows * cols, 'f32');
  if (rows * cols === 0) return out;
  if (n === 0) {
    fillWords(rt, out, rows * cols, 0);
    return out;
  }
  const { starts, list } = csrBuild(rt, si, n, rows);
  rt.dispatch(csrSumKernel(), [ss, starts, list, out], (p) => {
    p.u(0, rows * cols);
    p.u(1, cols);
  }, grid1D(rows * cols));
  rt.release(starts);
  rt.release(list);
  return out;
}

export function sortRows(
  rt: WebGPURuntime, x: Storage, rows: number, cols: number, k: number, descending: boolean,
): { values: Storage; indices: Storage } {
  const [sx] = rt.inputs('sortRows', [x, rows * cols, 'x']);
  if (!Number.isInteger(k) || k < 0 || k > cols) throw new Error(`webgpu: sortRows: k = ${k} must be in [0, ${cols}]`);
  const values = rt.alloc(rows * k, 'f32');
  const indices = rt.alloc(rows * k, 'i32');
  if (rows * k === 0) return { values, indices };
  rt.dispatch(sortRowsKernel(), [sx, values, indices], (p) => {
    p.u(0, rows * cols);
    p.u(1, cols);
    p.u(2, k);
    p.u(3, descending ? 1 : 0);
  }, grid1D(rows * cols));
  return { values, indices };
}
