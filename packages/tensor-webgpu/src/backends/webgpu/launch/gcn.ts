/** Launches of the fused GCN propagation kernels (wgsl/gcn.ts): one dispatch per direction. */
import type { Storage } from '../../../backend.js';
import { grid, grid1D, type WebGPURuntime } from '../runtime.js';
import type { ParamWriter } from '../strided.js';
import { copy, fillWords } from './elementwise.js';
import { gcnSharedBackwardKernel, gcnSharedKernel } from '../wgsl/gcn.js';

function dims(what: string, t: number, m: number, w: number): (p: ParamWriter) => void {
  for (const [n, v] of [['t', t], ['m', m], ['w', w]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`webgpu: ${what}: ${n} must be a non-negative integer, got ${v}`);
  }
  return (p) => { p.u(0, t); p.u(1, m); p.u(2, w); };
}

function args(rt: WebGPURuntime, what: string, q: Storage, base: Storage, coef: Storage, proj: Storage, t: number, m: number, w: number) {
  return rt.inputs(what, [q, t * w, 'q'], [base, m * w, 'base'], [coef, m, 'coef'], [proj, w, 'proj']);
}

export function gcnShared(rt: WebGPURuntime, q: Storage, base: Storage, coef: Storage, proj: Storage, t: number, m: number, w: number): Storage {
  const params = dims('gcnShared', t, m, w);
  const ins = args(rt, 'gcnShared', q, base, coef, proj, t, m, w);
  const out = rt.alloc(t * m, 'f32');
  if (t * m === 0) return out;
  // w = 0: every sum is empty (the kernel's loop never runs and writes zeros).
  rt.dispatch(gcnSharedKernel(), [...ins, out], params, grid1D(t * m));
  return out;
}

export function gcnSharedBackward(
  rt: WebGPURuntime, q: Storage, base: Storage, coef: Storage, proj: Storage, g: Storage, t: number, m: number, w: number,
): { dq: Storage; dbase: Storage; dcoefCols: Storage; dproj: Storage } {
  const params = dims('gcnSharedBackward', t, m, w);
  const ins = args(rt, 'gcnSharedBackward', q, base, coef, proj, t, m, w);
  const [sg] = rt.inputs('gcnSharedBackward', [g, t * m, 'g']);
  const dq = rt.alloc(t * w, 'f32');
  const dbase = rt.alloc(m * w, 'f32');
  if (w === 0) return { dq, dbase, dcoefCols: rt.alloc(0, 'f32'), dproj: rt.alloc(0, 'f32') };
  // The kernel writes dproj as row m of dcoefCols (see wgsl/gcn.ts); dcoefCols keeps the extra row, which
  // nothing reads past its m x w elements.
  const dcoefCols = rt.alloc((m + 1) * w, 'f32');
  // m = 0 leaves dq unwritten by the kernel (it is filled per node): zero it here.
  if (m === 0) fillWords(rt, dq, t * w, 0);
  rt.dispatch(gcnSharedBackwardKernel(), [...ins, sg, dq, dbase, dcoefCols], params, grid(w));
  const dproj = copy(rt, { storage: dcoefCols, shape: [w], strides: [1], offset: m * w }, 'f32');
  return { dq, dbase, dcoefCols, dproj };
}
