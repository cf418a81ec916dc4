/**
 * The WebGPU backend: the `Backend` contract over a WebGPURuntime (runtime.ts). Transfers live in
 * storage.ts and kernel launches in launch/*.ts, grouped like their WGSL sources in wgsl/.
 */
import type {
  AdamWParams,
  Backend,
  BackendStats,
  BinaryOp,
  GruActivation,
  ReduceOp,
  RopeParams,
  SgdParams,
  Storage,
  UnaryOp,
  View,
} from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import * as cmb from './launch/combine.js';
import * as ew from './launch/elementwise.js';
import * as gru from './launch/gru.js';
import * as gcn from './launch/gcn.js';
import * as ix from './launch/indexing.js';
import { matmul } from './launch/matmul.js';
import { matmulAddLowRank } from './launch/lowrank.js';
import * as moe from './launch/moe.js';
import { adamw, sgd } from './launch/optim.js';
import { reduce } from './launch/reduce.js';
import * as rows from './launch/rows.js';
import { WebGPURuntime, type WebGPUBackendOptions } from './runtime.js';
import type { AdapterSummary } from './device.js';
import { fill, read, upload } from './storage.js';
import { Recorder } from './capture.js';
import type { BackendCapture } from '../../capture/state.js';

export type { WebGPUBackendOptions };

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly device: GPUDevice;
  readonly hasF16: boolean;
  private readonly rt: WebGPURuntime;

  /** What the adapter says of itself (vendor, architecture, description; software for lavapipe and the like). */
  get adapterInfo(): AdapterSummary {
    return this.rt.adapter;
  }

  constructor(device: GPUDevice, keep: unknown[], ownsDevice: boolean, hasF16: boolean, opts: WebGPUBackendOptions = {}) {
    this.device = device;
    this.hasF16 = hasF16;
    this.rt = new WebGPURuntime(this, device, keep, ownsDevice, opts);
  }

  // ------------------------------------------------------------------ storage and lifetime
  upload(data: TypedArray | ArrayLike<number>, dtype: DType): Storage { return upload(this.rt, data, dtype); }
  fill(size: number, dtype: DType, value: number): Storage { return fill(this.rt, size, dtype, value); }
  read(views: readonly View[]): Promise<TypedArray[]> { return read(this.rt, views); }
  release(s: Storage): void { this.rt.release(s); }
  flush(): void { this.rt.flush(); }
  sync(): Promise<void> { return this.rt.sync(); }
  stats(): BackendStats { return this.rt.stats(); }
  destroy(): void { this.rt.destroy(); }
  capture(): BackendCapture { return new Recorder(this.rt, this.rt.captures); }

  // ------------------------------------------------------------------ strided kernels
  copy(x: View, dtype: DType): Storage { return ew.copy(this.rt, x, dtype); }
  unary(op: UnaryOp, x: View): Storage { return ew.unary(this.rt, op, x); }
  binary(op: BinaryOp, a: View, b: View): Storage { return ew.binary(this.rt, op, a, b); }
  where(cond: View, a: View, b: View): Storage { return ew.where(this.rt, cond, a, b); }
  reduce(op: ReduceOp, x: View, reduceDims: number): Storage { return reduce(this.rt, op, x, reduceDims); }
  matmul(a: View, b: View): Storage { return matmul(this.rt, a, b); }
  matmulAddLowRank(x: View, w: View, u: View, b: View, s: number): Storage { return matmulAddLowRank(this.rt, x, w, u, b, s); }
  accumulate(dst: Storage, dstOffset: number, src: View, mode: 'copy' | 'add'): void { ew.accumulate(this.rt, dst, dstOffset, src, mode); }

  // ------------------------------------------------------------------ row and index kernels
  softmax(x: Storage, r: number, c: number, log: boolean): Storage { return rows.softmax(this.rt, x, r, c, log); }
  softmaxBackward(y: Storage, g: Storage, r: number, c: number, log: boolean): Storage { return rows.softmaxBackward(this.rt, y, g, r, c, log); }
  crossEntropy(logits: Storage, target: Storage, r: number, c: number, ignoreIndex: number): Storage {
    return rows.crossEntropy(this.rt, logits, target, r, c, ignoreIndex);
  }
  crossEntropyBackward(logits: Storage, target: Storage, gRow: Storage, r: number, c: number, ignoreIndex: number): Storage {
    return rows.crossEntropyBackward(this.rt, logits, target, gRow, r, c, ignoreIndex);
  }
  rmsnorm(x: Storage, w: Storage, r: number, c: number, eps: number): Storage { return rows.rmsnorm(this.rt, x, w, r, c, eps); }
  rmsnormBackward(x: Storage, w: Storage, g: Storage, r: number, c: number, eps: number): { dx: Storage; dw: Storage } {
    return rows.rmsnormBackward(this.rt, x, w, g, r, c, eps);
  }
  gcnShared(q: Storage, base: Storage, coef: Storage, proj: Storage, t: number, m: number, w: number): Storage {
    return gcn.gcnShared(this.rt, q, base, coef, proj, t, m, w);
  }
  gcnSharedBackward(
    q: Storage, base: Storage, coef: Storage, proj: Storage, g: Storage, t: number, m: number, w: number,
  ): { dq: Storage; dbase: Storage; dcoefCols: Storage; dproj: Storage } {
    return gcn.gcnSharedBackward(this.rt, q, base, coef, proj, g, t, m, w);
  }
  rope(x: Storage, p: RopeParams): Storage { return rows.rope(this.rt, x, p); }
  gatherRows(x: Storage, idx: Storage, r: number, c: number, n: number): Storage { return ix.gatherRows(this.rt, x, idx, r, c, n); }
  scatterAddRows(src: Storage, idx: Storage, n: number, c: number, r: number): Storage { return ix.scatterAddRows(this.rt, src, idx, n, c, r); }
  gatherCols(x: Storage, idx: Storage, r: number, c: number, k: number): Storage { return ix.gatherCols(this.rt, x, idx, r, c, k); }
  scatterAddCols(g: Storage, idx: Storage, r: number, k: number, c: number): Storage { return ix.scatterAddCols(this.rt, g, idx, r, k, c); }
  gatherMatmul(x: Storage, w: View, idx: Storage, m: number, k: number, n: number, e: number): Storage {
    return moe.gatherMatmul(this.rt, x, w, idx, m, k, n, e);
  }
  gatherMatmulGradW(x: Storage, g: Storage, idx: Storage, m: number, k: number, n: number, e: number): Storage {
    return moe.gatherMatmulGradW(this.rt, x, g, idx, m, k, n, e);
  }
  combineRows(v: Storage, w: Storage, t: number, k: number, d: number): Storage { return cmb.combineRows(this.rt, v, w, t, k, d); }
  combineRowsBackward(v: Storage, w: Storage, g: Storage, t: number, k: number, d: number): { dv: Storage; dw: Storage } {
    return cmb.combineRowsBackward(this.rt, v, w, g, t, k, d);
  }
  sortRows(x: Storage, r: number, c: number, k: number, descending: boolean): { values: Storage; indices: Storage } {
    return ix.sortRows(this.rt, x, r, c, k, descending);
  }
  dropoutMask(size: number, p: number, seed: number): Storage { return ew.dropoutMask(this.rt, size, p, seed); }

  // ------------------------------------------------------------------ fused GRU cell
  gruReset(pr: Storage, h: Storage, n: number): Storage { return gru.gruReset(this.rt, pr, h, n); }
  gruResetBackward(pr: Storage, h: Storage, g: Storage, n: number): { dpr: Storage; dh: Storage } {
    return gru.gruResetBackward(this.rt, pr, h, g, n);
  }
  gruUpdate(pz: Storage, po: Storage, b: Storage, h: Storage, r: number, c: number, act: GruActivation): Storage {
    return gru.gruUpdate(this.rt, pz, po, b, h, r, c, act);
  }
  gruUpdateBackward(
    pz: Storage, po: Storage, b: Storage, h: Storage, g: Storage, r: number, c: number, act: GruActivation,
  ): { dpz: Storage; dpo: Storage; dh: Storage } {
    return gru.gruUpdateBackward(this.rt, pz, po, b, h, g, r, c, act);
  }

  // ------------------------------------------------------------------ optimizers
  adamw(p: Storage, g: Storage, m: Storage, v: Storage, h: AdamWParams, gradScale: Storage | null): void {
    adamw(this.rt, p, g, m, v, h, gradScale);
  }
  sgd(p: Storage, g: Storage, buf: Storage | null, h: SgdParams, gradScale: Storage | null): void { sgd(this.rt, p, g, buf, h, gradScale); }

  // ------------------------------------------------------------------ for tests
  /** Compile a kernel from raw WGSL (tests use it to check that compile errors surface). */
  compileForTest(key: string, code: string): void { this.rt.pipes.get({ key, code: () => code }); }

  /** Binding signature ('u' then 'r'/'w' per storage) of every kernel this backend has created, by key. */
  kernelSignaturesForTest(): Map<string, string> { return this.rt.pipes.signatures(); }

  /** Wait for outstanding compile checks and return the first compile error, if any. */
  async compileErrorForTest(): Promise<Error | null> {
    await this.rt.keepAlive(this.rt.pipes.settle());
    return this.rt.pipes.error;
  }
}
