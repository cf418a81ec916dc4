/** Launches of the fused GRU cell kernels (wgsl/gru.ts). */
import type { GruActivation, Storage } from '../../../backend.js';
import type { KernelDef } from '../pipelines.js';
import { grid1D, type WebGPURuntime, type WGStorage } from '../runtime.js';
import { gruResetBackwardKernel, gruResetKernel, gruUpdateBackwardKernel, gruUpdateKernel } from '../wgsl/gru.js';

/** Allocate `outs` f32 outputs of n elements and run `k` over n elements of ins then outs. */
function run(rt: WebGPURuntime, k: KernelDef, ins: WGStorage[], outs: number, n: number, cols: number): WGStorage[] {
  const os = Array.from({ length: outs }, () => rt.alloc(n, 'f32'));
  if (n > 0) rt.dispatch(k, [...ins, ...os], (p) => { p.u(0, n); p.u(1, cols); }, grid1D(n));
  return os;
}

function checkAct(what: string, act: GruActivation): void {
  if (act !== 'tanh' && act !== 'sigmoid') throw new Error(`webgpu: ${what}: act must be 'tanh' or 'sigmoid', got '${String(act)}'`);
}

export function gruReset(rt: WebGPURuntime, pr: Storage, h: Storage, n: number): Storage {
  const ins = rt.inputs('gruReset', [pr, n, 'pr'], [h, n, 'h']);
  return run(rt, gruResetKernel(), ins, 1, n, 1)[0]!;
}

export function gruResetBackward(rt: WebGPURuntime, pr: Storage, h: Storage, g: Storage, n: number): { dpr: Storage; dh: Storage } {
  const ins = rt.inputs('gruResetBackward', [pr, n, 'pr'], [h, n, 'h'], [g, n, 'g']);
  const [dpr, dh] = run(rt, gruResetBackwardKernel(), ins, 2, n, 1);
  return { dpr: dpr!, dh: dh! };
}

export function gruUpdate(
  rt: WebGPURuntime, pz: Storage, po: Storage, b: Storage, h: Storage, rows: number, cols: number, act: GruActivation,
): Storage {
  checkAct('gruUpdate', act);
  const n = rows * cols;
  const ins = rt.inputs('gruUpdate', [pz, n, 'pz'], [po, n, 'po'], [b, cols, 'b'], [h, n, 'h']);
  return run(rt, gruUpdateKernel(act), ins, 1, n, cols)[0]!;
}

export function gruUpdateBackward(
  rt: WebGPURuntime, pz: Storage, po: Storage, b: Storage, h: Storage, g: Storage, rows: number, cols: number, act: GruActivation,
): { dpz: Storage; dpo: Storage; dh: Storage } {
  checkAct('gruUpdateBackward', act);
  const n = rows * cols;
  const ins = rt.inputs('gruUpdateBackward', [pz, n, 'pz'], [po, n, 'po'], [b, cols, 'b'], [h, n, 'h'], [g, n, 'g']);
  const [dpz, dpo, dh] = run(rt, gruUpdateBackwardKernel(act), ins, 3, n, cols);
  return { dpz: dpz!, dpo: dpo!, dh: dh! };
}
