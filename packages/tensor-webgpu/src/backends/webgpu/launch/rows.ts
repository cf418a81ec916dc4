/** Launches of the row kernels (wgsl/rows.ts): softmax, cross-entropy, rmsnorm and their gradients, plus rope. */
import type { RopeParams, Storage } from '../../../backend.js';
import type { KernelDef } from '../pipelines.js';
import { grid, grid1D, type Bindable, type WebGPURuntime, type WGStorage } from '../runtime.js';
import type { ParamWriter } from '../strided.js';
import { fillWords } from './elementwise.js';
import {
  crossEntropyBackwardKernel,
  crossEntropyKernel,
  rmsnormBackwardColsKernel,
  rmsnormBackwardRowsKernel,
  rmsnormKernel,
  ropeKernel,
  rowWG,
  softmaxBackwardKernel,
  softmaxKernel,
} from '../wgsl/rows.js';

/** Grid of `items` rows (or columns) handled by a workgroup of W threads each, or a thread each when W is 1. */
function rowGrid(W: number, items: number): [number, number, number] {
  return W === 1 ? grid1D(items) : grid(items);
}

/** Dispatch a row kernel of W threads per row over `rows` rows (params 0 rows, 1 cols, then `extra`). */
export function rowsDispatch(
  rt: WebGPURuntime, k: KernelDef, W: number, bufs: Bindable[], rows: number, cols: number,
  extra?: (p: ParamWriter) => void,
): void {
  rt.dispatch(k, bufs, (p) => {
    p.u(0, rows);
    p.u(1, cols);
    extra?.(p);
  }, rowGrid(W, rows));
}

/** Allocate an f32 output of `outSize` and run a row kernel over `ins` writing it. */
function perRow(
  rt: WebGPURuntime, outSize: number, rows: number, cols: number, kernel: (W: number) => KernelDef,
  ins: WGStorage[], extra?: (p: ParamWriter) => void,
): WGStorage {
  const out = rt.alloc(outSize, 'f32');
  if (outSize === 0) return out;
  const W = rowWG(rows, cols);
  rowsDispatch(rt, kernel(W), W, [...ins, out], rows, cols, extra);
  return out;
}

export function softmax(rt: WebGPURuntime, x: Storage, rows: number, cols: number, log: boolean): Storage {
  const [sx] = rt.inputs('softmax', [x, rows * cols, 'x']);
  return perRow(rt, rows * cols, rows, cols, (W) => softmaxKernel(log, W), [sx]);
}

export function softmaxBackward(rt: WebGPURuntime, y: Storage, g: Storage, rows: number, cols: number, log: boolean): Storage {
  const ins = rt.inputs('softmaxBackward', [y, rows * cols, 'y'], [g, rows * cols, 'g']);
  return perRow(rt, rows * cols, rows, cols, (W) => softmaxBackwardKernel(log, W), ins);
}

export function crossEntropy(
  rt: WebGPURuntime, logits: Storage, target: Storage, rows: number, cols: number, ignoreIndex: number,
): Storage {
  const ins = rt.inputs('crossEntropy', [logits, rows * cols, 'logits'], [target, rows, 'target']);
  if (ins[1].dtype !== 'i32') throw new Error('webgpu: crossEntropy: target must be i32');
  return perRow(rt, rows, rows, cols, crossEntropyKernel, ins, (p) => p.i(2, ignoreIndex));
}

export function crossEntropyBackward(
  rt: WebGPURuntime, logits: Storage, target: Storage, gRow: Storage, rows: number, cols: number, ignoreIndex: number,
): Storage {
  const ins = rt.inputs('crossEntropyBackward', [logits, rows * cols, 'logits'], [target, rows, 'target'], [gRow, rows, 'gRow']);
  return perRow(rt, rows * cols, rows, cols, crossEntropyBackwardKernel, ins, (p) => p.i(2, ignoreIndex));
}

export function rmsnorm(rt: WebGPURuntime, x: Storage, w: Storage, rows: number, cols: number, eps: number): Storage {
  const ins = rt.inputs('rmsnorm', [x, rows * cols, 'x'], [w, cols, 'w']);
  return perRow(rt, rows * cols, rows, cols, rmsnormKernel, ins, (p) => p.f(2, eps));
}

export function rmsnormBackward(
  rt: WebGPURuntime, x: Storage, w: Storage, g: Storage, rows: number, cols: number, eps: number,
): { dx: Storage; dw: Storage } {
  const [sx, sw, sg] = rt.inputs('rmsnormBackward', [x, rows * cols, 'x'], [w, cols, 'w'], [g, rows * cols, 'g']);
  const dx = rt.alloc(rows * cols, 'f32');
  const dw = rt.alloc(cols, 'f32');
  if (cols === 0) return { dx, dw };
  if (rows === 0) {
    fillWords(rt, dw, cols, 0);
    return { dx, dw };
  }
  // dw sums over rows: a second pass per column reads each row's rstd saved by the first
  const r = rt.alloc(rows, 'f32');
  const W = rowWG(rows, cols);
  rowsDispatch(rt, rmsnormBackwardRowsKernel(W), W, [sx, sw, sg, dx, r], rows, cols, (p) => p.f(2, eps));
  const WC = cols >= 64 ? 1 : 32;
  rt.dispatch(rmsnormBackwardColsKernel(WC), [sx, sg, r, dw], (p) => {
    p.u(0, rows);
    p.u(1, cols);
  }, rowGrid(WC, cols));
  rt.release(r);
  return { dx, dw };
}

export function rope(rt: WebGPURuntime, x: Storage, q: RopeParams): Storage {
  const sx = rt.st(x, 'rope');
  const { n, t, h, d } = q;
  if (d % 2 !== 0) throw new Error(`webgpu: rope: head size d = ${d} must be even`);
  const total = n * t * h * d;
  rt.checkSize(sx, total, 'rope', 'x');
  const out = rt.alloc(total, 'f32');
  if (total === 0) return out;
  const pairs = total / 2;
  rt.dispatch(ropeKernel(), [sx, out], (p) => {
    p.u(0, pairs);
    p.u(1, t);
    p.u(2, h);
    p.u(3, d);
    p.i(4, q.startPos);
    p.u(5, q.layout === 'half' ? 1 : 0);
    p.f(6, q.inverse ? -1 : 1);
    p.f(7, Math.log2(q.theta));
  }, grid1D(pairs));
  return out;
}
