/**
 * The cpu backend: the reference implementation of backend.ts (in f64 precision it is the
 * oracle for finite-difference gradient checks) and the fast path where no GPU exists.
 * This file owns storage bookkeeping and argument validation; the kernel files only see
 * plain typed arrays.
 */
import type {
  AdamWParams, Backend, BackendStats, BinaryOp, GruActivation, ReduceOp, RopeParams, SgdParams, Storage, UnaryOp, View,
} from '../../backend.js';
import { f32ToF16Bits, type DType, type TypedArray } from '../../dtype.js';
import { dropoutMask } from './dropout.js';
import { combineRows, combineRowsBackward } from './combine.js';
import * as ew from './elementwise.js';
import * as gru from './gru.js';
import * as ix from './indexing.js';
import { matmul } from './matmul.js';
import { matmulAddLowRank } from './lowrank.js';
import * as moe from './moe.js';
import { adamw, sgd } from './optim.js';
import { reduceView } from './reduce.js';
import { resolveThreads } from './wasm/pool.js';
import * as gcn from './gcn.js';
import * as rw from './rows.js';
import {
  ArrayPool, CpuStorage, f16Lut, setActivePool, storageBytes, uninitArray, type FloatArray, type Precision, type RView,
} from './storage.js';
import { castCopy, contiguous, floatValues, numelOf } from './strided.js';

export { CpuStorage } from './storage.js';
export type { Precision } from './storage.js';

export interface CpuBackendOptions {
  /** 'f64' stores f32-dtype storages as Float64Array and computes in float64 (gradient-check oracle). */
  precision?: Precision;
  /**
   * Threads for f32 matmuls (the calling thread plus lazily started workers; results are bit-identical for
   * any count). Default: env MOEGRAPH_THREADS, else the available parallelism. 1 = calling thread only.
   */
  threads?: number;
  /**
   * Bytes of released arrays kept for reuse by later outputs of the same type and length
   * (default 1 GiB, as the webgpu buffer pool; 0 disables reuse). A training step frees and
   * reallocates its whole working set (about 360 MiB for the GRU-routed MoE block of
   * apps/bench), so a cap below that makes part of every step allocate afresh. Counted in
   * stats().pooledBytes, not in bytesInUse.
   */
  maxPooledBytes?: number;
}

const DTYPES: readonly DType[] = ['f32', 'i32', 'f16'];

function isInt(v: number): boolean {
  return Number.isInteger(v);
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly precision: Precision;
  readonly threads: number;
  private live = 0;
  private bytes = 0;
  private dispatches = 0;
  private destroyed = false;
  private readonly pool: ArrayPool;

  constructor(opts: CpuBackendOptions = {}) {
    const p = opts.precision ?? 'f32';
    if (p !== 'f32' && p !== 'f64') throw new Error(`cpu backend: precision must be 'f32' or 'f64', got '${String(p)}'`);
    this.precision = p;
    this.threads = resolveThreads(opts.threads);
    const cap = opts.maxPooledBytes ?? 2 ** 30;
    if (!(cap >= 0)) throw new Error(`cpu backend: maxPooledBytes must be >= 0, got ${String(cap)}`);
    this.pool = new ArrayPool(cap);
  }

  // ---- bookkeeping and validation ----

  /** Every entry point that allocates starts here, so kernels allocate from this backend's pool. */
  private alive(): void {
    if (this.destroyed) throw new Error('cpu backend: used after destroy()');
    setActivePool(this.pool);
  }

  private wrap(dtype: DType, data: TypedArray): CpuStorage {
    this.live++;
    this.bytes += storageBytes(this.precision, dtype, data.length);
    return new CpuStorage(this, dtype, data);
  }

  /** Counts a kernel launch; every kernel starts here. */
  private begin(): void {
    this.alive();
    this.dispatches++;
  }

  private st(s: Storage, kernel: string, arg: string, dtypes?: readonly DType[]): CpuStorage {
    if (!(s instanceof CpuStorage) || s.backend !== this) {
      throw new Error(`cpu ${kernel}: ${arg} is not a storage of this cpu backend`);
    }
    if (s.released) throw new Error(`cpu ${kernel}: ${arg} storage was released (disposed) and cannot be used`);
    if (dtypes && !dtypes.includes(s.dtype)) {
      throw new Error(`cpu ${kernel}: ${arg} must have dtype ${dtypes.join(' or ')}, got ${s.dtype}`);
    }
    return s;
  }

  /** A contiguous storage of exactly `n` elements. */
  private sized(s: Storage, n: number, kernel: string, arg: string, dtypes: readonly DType[]): CpuStorage {
    const c = this.st(s, kernel, arg, dtypes);
    if (c.size !== n) throw new Error(`cpu ${kernel}: ${arg} has ${c.size} elements, expected ${n}`);
    return c;
  }

  private floats(s: Storage, n: number, kernel: string, arg: string): FloatArray {
    return this.sized(s, n, kernel, arg, ['f32']).data as FloatArray;
  }

  private ints(s: Storage, n: number, kernel: string, arg: string): Int32Array {
    return this.sized(s, n, kernel, arg, ['i32']).data as Int32Array;
  }

  private view(v: View, kernel: string, arg: string, dtypes?: readonly DType[]): RView {
    const s = this.st(v.storage, kernel, arg, dtypes);
    const { shape, strides, offset } = v;
    if (shape.length !== strides.length) {
      throw new Error(`cpu ${kernel}: ${arg} has shape [${shape.join(', ')}] but ${strides.length} strides`);
    }
    if (!shape.every((d) => isInt(d) && d >= 0)) throw new Error(`cpu ${kernel}: ${arg} has invalid shape [${shape.join(', ')}]`);
    if (!isInt(offset) || !strides.every(isInt)) throw new Error(`cpu ${kernel}: ${arg} has non-integer offset or strides`);
    if (numelOf(shape) > 0) {
      let lo = offset;
      let hi = offset;
      for (let i = 0; i < shape.length; i++) {
        const ext = (shape[i] - 1) * strides[i];
        if (ext < 0) lo += ext;
        else hi += ext;
      }
      if (lo < 0 || hi >= s.size) {
        throw new Error(
          `cpu ${kernel}: ${arg} view (shape [${shape.join(', ')}], strides [${strides.join(', ')}], offset ${offset}) reads elements [${lo}, ${hi}] outside storage of size ${s.size}`,
        );
      }
    }
    return { data: s.data, dtype: s.dtype, shape, strides, offset };
  }

  private dims(kernel: string, vals: Record<string, number>): void {
    for (const [k, v] of Object.entries(vals)) {
      if (!isInt(v) || v < 0) throw new Error(`cpu ${kernel}: ${k} must be a non-negative integer, got ${v}`);
    }
  }

  private sameShape(kernel: string, names: string[], views: RView[]): void {
    const s0 = views[0].shape;
    for (let i = 1; i < views.length; i++) {
      const s = views[i].shape;
      if (s.length !== s0.length || s.some((d, j) => d !== s0[j])) {
        throw new Error(`cpu ${kernel}: ${names[0]} shape [${s0.join(', ')}] and ${names[i]} shape [${s.join(', ')}] differ`);
      }
    }
  }

  private scaleOf(gradScale: Storage | null, kernel: string): number {
    if (gradScale === null) return 1;
    return this.floats(gradScale, 1, kernel, 'gradScale')[0];
  }

  // ---- storage ----

  upload(data: TypedArray | ArrayLike<number>, dtype: DType): Storage {
    this.alive();
    if (!DTYPES.includes(dtype)) throw new Error(`cpu upload: unknown dtype '${String(dtype)}'`);
    const n = data.length;
    const out = uninitArray(this.precision, dtype, n);
    if (dtype === 'f16' && !(data instanceof Uint16Array)) {
      for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(data[i]);
    } else {
      // A Uint16Array uploaded as f16 is taken as raw half bits (the f16 TypedArray of dtype.ts).
      for (let i = 0; i < n; i++) out[i] = data[i];
    }
    return this.wrap(dtype, out);
  }

  fill(size: number, dtype: DType, value: number): Storage {
    this.begin();
    this.dims('fill', { size });
    if (!DTYPES.includes(dtype)) throw new Error(`cpu fill: unknown dtype '${String(dtype)}'`);
    const out = uninitArray(this.precision, dtype, size);
    out.fill(dtype === 'f16' ? f32ToF16Bits(value) : value);
    return this.wrap(dtype, out);
  }

  /** Synchronous read of one view as a contiguous copy (f16 decoded to Float32Array). */
  readSync(view: View): TypedArray {
    this.alive();
    const v = this.view(view, 'read', 'view');
    if (v.dtype === 'f16') {
      const bits = contiguous(v, this.precision);
      const lut = f16Lut();
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = lut[bits[i]];
      return out;
    }
    return castCopy(v, v.dtype, this.precision);
  }

  read(views: readonly View[]): Promise<TypedArray[]> {
    try {
      return Promise.resolve(views.map((v) => this.readSync(v)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  release(s: Storage): void {
    if (!(s instanceof CpuStorage) || s.backend !== this) throw new Error('cpu release: not a storage of this cpu backend');
    if (s.released) throw new Error('cpu backend: storage released twice');
    s.released = true;
    this.live--;
    this.bytes -= storageBytes(this.precision, s.dtype, s.size);
    // Every kernel read and wrote synchronously, and every access checks `released` first, so
    // nothing can touch this array through `s` again.
    if (!this.destroyed) this.pool.give(s.data);
  }

  flush(): void {}

  sync(): Promise<void> {
    return this.destroyed ? Promise.reject(new Error('cpu backend: used after destroy()')) : Promise.resolve();
  }

  stats(): BackendStats {
    return { liveStorages: this.live, bytesInUse: this.bytes, pooledBytes: this.pool.bytes, pipelines: 0, dispatches: this.dispatches, submits: 0 };
  }

  destroy(): void {
    this.destroyed = true;
    this.pool.clear();
  }

  // ---- strided kernels ----

  copy(x: View, dtype: DType): Storage {
    this.begin();
    if (!DTYPES.includes(dtype)) throw new Error(`cpu copy: unknown dtype '${String(dtype)}'`);
    const v = this.view(x, 'copy', 'x');
    return this.wrap(dtype, castCopy(v, dtype, this.precision));
  }

  unary(op: UnaryOp, x: View): Storage {
    this.begin();
    const v = this.view(x, `unary ${op}`, 'x', ['f32', 'i32']);
    return this.wrap(v.dtype, ew.unary(op, v, this.precision));
  }

  binary(op: BinaryOp, a: View, b: View): Storage {
    this.begin();
    const k = `binary ${op}`;
    const va = this.view(a, k, 'a', ['f32', 'i32']);
    const vb = this.view(b, k, 'b', ['f32', 'i32']);
    if (va.dtype !== vb.dtype) throw new Error(`cpu ${k}: dtype mismatch, a is ${va.dtype} and b is ${vb.dtype}`);
    this.sameShape(k, ['a', 'b'], [va, vb]);
    return this.wrap(ew.binaryOutDType(op, va.dtype), ew.binary(op, va, vb, this.precision));
  }

  where(cond: View, a: View, b: View): Storage {
    this.begin();
    const vc = this.view(cond, 'where', 'cond', ['f32', 'i32']);
    const va = this.view(a, 'where', 'a', ['f32', 'i32']);
    const vb = this.view(b, 'where', 'b', ['f32', 'i32']);
    if (va.dtype !== vb.dtype) throw new Error(`cpu where: dtype mismatch, a is ${va.dtype} and b is ${vb.dtype}`);
    this.sameShape('where', ['cond', 'a', 'b'], [vc, va, vb]);
    const p = this.precision;
    return this.wrap(va.dtype, ew.where(contiguous(vc, p), contiguous(va, p), contiguous(vb, p), va.dtype, p));
  }

  reduce(op: ReduceOp, x: View, reduceDims: number): Storage {
    this.begin();
    const k = `reduce ${op}`;
    const v = this.view(x, k, 'x', ['f32', 'i32']);
    const rank = v.shape.length;
    if (!isInt(reduceDims) || reduceDims < 0 || reduceDims > rank) {
      throw new Error(`cpu ${k}: reduceDims ${reduceDims} out of range for rank ${rank}`);
    }
    if ((op === 'argmax' || op === 'argmin') && reduceDims !== 1) {
      throw new Error(`cpu ${k}: reduces exactly one trailing dim, got reduceDims ${reduceDims}`);
    }
    const rows = numelOf(v.shape.slice(0, rank - reduceDims));
    const cols = numelOf(v.shape.slice(rank - reduceDims));
    if ((op === 'argmax' || op === 'argmin') && cols === 0) throw new Error(`cpu ${k}: cannot reduce an empty dim`);
    const out = reduceView(op, v, reduceDims, this.precision);
    return this.wrap(op === 'argmax' || op === 'argmin' ? 'i32' : v.dtype, out);
  }

  matmul(a: View, b: View): Storage {
    this.begin();
    const va = this.view(a, 'matmul', 'a', ['f32', 'f16']);
    const vb = this.view(b, 'matmul', 'b', ['f32', 'f16']);
    if (va.shape.length !== 3 || vb.shape.length !== 3) {
      throw new Error(`cpu matmul: a [${va.shape.join(', ')}] and b [${vb.shape.join(', ')}] must both be rank 3 [B, M, K] x [B, K, N]`);
    }
    if (va.shape[0] !== vb.shape[0] || va.shape[2] !== vb.shape[1]) {
      throw new Error(`cpu matmul: shapes a [${va.shape.join(', ')}] and b [${vb.shape.join(', ')}] do not match [B, M, K] x [B, K, N]`);
    }
    return this.wrap('f32', matmul(va, vb, this.precision, this.threads));
  }

  matmulAddLowRank(x: View, w: View, u: View, b: View, s: number): Storage {
    this.begin();
    const k = 'matmulAddLowRank';
    const [vx, vw, vu, vb] = [this.view(x, k, 'x', ['f32']), this.view(w, k, 'w', ['f32', 'f16']), this.view(u, k, 'u', ['f32']), this.view(b, k, 'b', ['f32'])];
    const [M, K] = vx.shape;
    const fits = [vx, vw, vu, vb].every((v) => v.shape.length === 2) && vw.shape[0] === K && vu.shape[0] === M &&
      vb.shape[0] === vu.shape[1] && vb.shape[1] === vw.shape[1];
    if (!fits) {
      const sh = (v: RView) => `[${v.shape.join(', ')}]`;
      throw new Error(`cpu ${k}: x ${sh(vx)} @ w ${sh(vw)} + u ${sh(vu)} @ b ${sh(vb)} do not match [M, K] @ [K, N] + [M, r] @ [r, N]`);
    }
    return this.wrap('f32', matmulAddLowRank(vx, vw, vu, vb, s, this.precision, this.threads));
  }

  accumulate(dst: Storage, dstOffset: number, src: View, mode: 'copy' | 'add'): void {
    this.begin();
    const d = this.st(dst, 'accumulate', 'dst', ['f32', 'i32']);
    const v = this.view(src, 'accumulate', 'src');
    if ((d.dtype === "i32") !== (v.dtype === "i32")) {
      throw new Error(`cpu accumulate: dst is ${d.dtype} but src is ${v.dtype}`);
    }
    const n = numelOf(v.shape);
    if (!isInt(dstOffset) || dstOffset < 0 || dstOffset + n > d.size) {
      throw new Error(`cpu accumulate: dstOffset ${dstOffset} + ${n} src elements exceeds dst size ${d.size}`);
    }
    if (mode !== 'copy' && mode !== 'add') throw new Error(`cpu accumulate: unknown mode '${String(mode)}'`);
    ew.accumulate(d.data, dstOffset, d.dtype === 'i32' ? contiguous(v, this.precision) : floatValues(v, this.precision), mode === 'add');
  }

  // ---- row kernels ----

  softmax(x: Storage, rows: number, cols: number, log: boolean): Storage {
    this.begin();
    this.dims('softmax', { rows, cols });
    return this.wrap('f32', rw.softmax(this.floats(x, rows * cols, 'softmax', 'x'), rows, cols, log, this.precision));
  }

  softmaxBackward(y: Storage, g: Storage, rows: number, cols: number, log: boolean): Storage {
    this.begin();
    const k = 'softmaxBackward';
    this.dims(k, { rows, cols });
    const n = rows * cols;
    return this.wrap('f32', rw.softmaxBackward(this.floats(y, n, k, 'y'), this.floats(g, n, k, 'g'), rows, cols, log, this.precision));
  }

  crossEntropy(logits: Storage, target: Storage, rows: number, cols: number, ignoreIndex: number): Storage {
    this.begin();
    const k = 'crossEntropy';
    this.dims(k, { rows, cols });
    const x = this.floats(logits, rows * cols, k, 'logits');
    const t = this.ints(target, rows, k, 'target');
    return this.wrap('f32', rw.crossEntropy(x, t, rows, cols, ignoreIndex, this.precision));
  }

  crossEntropyBackward(logits: Storage, target: Storage, gRow: Storage, rows: number, cols: number, ignoreIndex: number): Storage {
    this.begin();
    const k = 'crossEntropyBackward';
    this.dims(k, { rows, cols });
    const x = this.floats(logits, rows * cols, k, 'logits');
    const t = this.ints(target, rows, k, 'target');
    const g = this.floats(gRow, rows, k, 'gRow');
    return this.wrap('f32', rw.crossEntropyBackward(x, t, g, rows, cols, ignoreIndex, this.precision));
  }

  rmsnorm(x: Storage, w: Storage, rows: number, cols: number, eps: number): Storage {
    this.begin();
    this.dims('rmsnorm', { rows, cols });
    const xs = this.floats(x, rows * cols, 'rmsnorm', 'x');
    return this.wrap('f32', rw.rmsnorm(xs, this.floats(w, cols, 'rmsnorm', 'w'), rows, cols, eps, this.precision));
  }

  rmsnormBackward(x: Storage, w: Storage, g: Storage, rows: number, cols: number, eps: number): { dx: Storage; dw: Storage } {
    this.begin();
    const k = 'rmsnormBackward';
    this.dims(k, { rows, cols });
    const n = rows * cols;
    const r = rw.rmsnormBackward(this.floats(x, n, k, 'x'), this.floats(w, cols, k, 'w'), this.floats(g, n, k, 'g'), rows, cols, eps, this.precision);
    return { dx: this.wrap('f32', r.dx), dw: this.wrap('f32', r.dw) };
  }

  gcnShared(q: Storage, base: Storage, coef: Storage, proj: Storage, t: number, m: number, w: number): Storage {
    this.begin();
    const a = this.gcnArgs('gcnShared', q, base, coef, proj, t, m, w);
    return this.wrap('f32', gcn.gcnShared(a.q, a.base, a.coef, a.proj, t, m, w, this.precision));
  }

  gcnSharedBackward(
    q: Storage, base: Storage, coef: Storage, proj: Storage, g: Storage, t: number, m: number, w: number,
  ): { dq: Storage; dbase: Storage; dcoefCols: Storage; dproj: Storage } {
    this.begin();
    const k = 'gcnSharedBackward';
    const a = this.gcnArgs(k, q, base, coef, proj, t, m, w);
    const r = gcn.gcnSharedBackward(a.q, a.base, a.coef, a.proj, this.floats(g, t * m, k, 'g'), t, m, w, this.precision);
    return { dq: this.wrap('f32', r.dq), dbase: this.wrap('f32', r.dbase), dcoefCols: this.wrap('f32', r.dcoefCols), dproj: this.wrap('f32', r.dproj) };
  }

  private gcnArgs(k: string, q: Storage, base: Storage, coef: Storage, proj: Storage, t: number, m: number, w: number) {
    this.dims(k, { t, m, w });
    return {
      q: this.floats(q, t * w, k, 'q'), base: this.floats(base, m * w, k, 'base'),
      coef: this.floats(coef, m, k, 'coef'), proj: this.floats(proj, w, k, 'proj'),
    };
  }

  rope(x: Storage, p: RopeParams): Storage {
    this.begin();
    this.dims('rope', { n: p.n, t: p.t, h: p.h, d: p.d });
    if (p.d % 2 !== 0) throw new Error(`cpu rope: head size d must be even, got ${p.d}`);
    if (p.layout !== 'interleaved' && p.layout !== 'half') throw new Error(`cpu rope: unknown layout '${String(p.layout)}'`);
    const xs = this.floats(x, p.n * p.t * p.h * p.d, 'rope', 'x');
    return this.wrap('f32', rw.rope(xs, p, this.precision));
  }

  gatherRows(x: Storage, idx: Storage, rows: number, cols: number, n: number): Storage {
    this.begin();
    const k = 'gatherRows';
    this.dims(k, { rows, cols, n });
    const xs = this.sized(x, rows * cols, k, 'x', DTYPES);
    const out = ix.gatherRows(xs.data, this.ints(idx, n, k, 'idx'), rows, cols, n, ix.newLike(this.precision, xs.data));
    return this.wrap(xs.dtype, out);
  }

  scatterAddRows(src: Storage, idx: Storage, n: number, cols: number, rows: number): Storage {
    this.begin();
    const k = 'scatterAddRows';
    this.dims(k, { n, cols, rows });
    const s = this.floats(src, n * cols, k, 'src');
    return this.wrap('f32', ix.scatterAddRows(s, this.ints(idx, n, k, 'idx'), n, cols, rows, this.precision));
  }

  gatherCols(x: Storage, idx: Storage, rows: number, cols: number, k: number): Storage {
    this.begin();
    const kn = 'gatherCols';
    this.dims(kn, { rows, cols, k });
    const xs = this.sized(x, rows * cols, kn, 'x', ['f32', 'i32']);
    const out = ix.gatherCols(xs.data, this.ints(idx, rows * k, kn, 'idx'), rows, cols, k, ix.newLike(this.precision, xs.data));
    return this.wrap(xs.dtype, out);
  }

  scatterAddCols(g: Storage, idx: Storage, rows: number, k: number, cols: number): Storage {
    this.begin();
    const kn = 'scatterAddCols';
    this.dims(kn, { rows, k, cols });
    const gs = this.floats(g, rows * k, kn, 'g');
    return this.wrap('f32', ix.scatterAddCols(gs, this.ints(idx, rows * k, kn, 'idx'), rows, k, cols, this.precision));
  }

  gatherMatmul(x: Storage, w: View, idx: Storage, m: number, k: number, n: number, e: number): Storage {
    this.begin();
    const kn = 'gatherMatmul';
    this.dims(kn, { m, k, n, e });
    const vw = this.view(w, kn, 'w', ['f32', 'f16']);
    if (vw.shape.length !== 3 || vw.shape[0] !== e || vw.shape[1] !== k || vw.shape[2] !== n) {
      throw new Error(`cpu ${kn}: w has shape [${vw.shape.join(', ')}], expected [e, k, n] = [${e}, ${k}, ${n}]`);
    }
    const xs = this.floats(x, m * k, kn, 'x');
    return this.wrap('f32', moe.gatherMatmul(xs, vw, this.ints(idx, m, kn, 'idx'), m, k, n, e, this.precision, this.threads));
  }

  gatherMatmulGradW(x: Storage, g: Storage, idx: Storage, m: number, k: number, n: number, e: number): Storage {
    this.begin();
    const kn = 'gatherMatmulGradW';
    this.dims(kn, { m, k, n, e });
    const xs = this.floats(x, m * k, kn, 'x');
    const gs = this.floats(g, m * n, kn, 'g');
    return this.wrap('f32', moe.gatherMatmulGradW(xs, gs, this.ints(idx, m, kn, 'idx'), m, k, n, e, this.precision, this.threads));
  }

  combineRows(v: Storage, w: Storage, t: number, k: number, d: number): Storage {
    this.begin();
    const kn = 'combineRows';
    this.dims(kn, { t, k, d });
    return this.wrap('f32', combineRows(this.precision, this.floats(v, t * k * d, kn, 'v'), this.floats(w, t * k, kn, 'w'), t, k, d));
  }

  combineRowsBackward(v: Storage, w: Storage, g: Storage, t: number, k: number, d: number): { dv: Storage; dw: Storage } {
    this.begin();
    const kn = 'combineRowsBackward';
    this.dims(kn, { t, k, d });
    const r = combineRowsBackward(
      this.precision, this.floats(v, t * k * d, kn, 'v'), this.floats(w, t * k, kn, 'w'), this.floats(g, t * d, kn, 'g'), t, k, d,
    );
    return { dv: this.wrap('f32', r.dv), dw: this.wrap('f32', r.dw) };
  }

  sortRows(x: Storage, rows: number, cols: number, k: number, descending: boolean): { values: Storage; indices: Storage } {
    this.begin();
    this.dims('sortRows', { rows, cols, k });
    if (k > cols) throw new Error(`cpu sortRows: k ${k} exceeds cols ${cols}`);
    const r = ix.sortRows(this.floats(x, rows * cols, 'sortRows', 'x'), rows, cols, k, descending, this.precision);
    return { values: this.wrap('f32', r.values), indices: this.wrap('i32', r.indices) };
  }

  dropoutMask(size: number, p: number, seed: number): Storage {
    this.begin();
    this.dims('dropoutMask', { size });
    if (!(p >= 0 && p <= 1)) throw new Error(`cpu dropoutMask: p must be in [0, 1], got ${p}`);
    return this.wrap('f32', dropoutMask(size, p, seed, this.precision));
  }

  // ---- fused GRU cell ----

  gruReset(pr: Storage, h: Storage, n: number): Storage {
    this.begin();
    this.dims('gruReset', { n });
    return this.wrap('f32', gru.gruReset(this.precision, this.floats(pr, n, 'gruReset', 'pr'), this.floats(h, n, 'gruReset', 'h')));
  }

  gruResetBackward(pr: Storage, h: Storage, g: Storage, n: number): { dpr: Storage; dh: Storage } {
    this.begin();
    const k = 'gruResetBackward';
    this.dims(k, { n });
    const r = gru.gruResetBackward(this.precision, this.floats(pr, n, k, 'pr'), this.floats(h, n, k, 'h'), this.floats(g, n, k, 'g'));
    return { dpr: this.wrap('f32', r.dpr), dh: this.wrap('f32', r.dh) };
  }

  /** The operands of gruUpdate and its gradient: [pz, po, b, h] as arrays, shapes checked. */
  private gruArgs(k: string, ss: Storage[], rows: number, cols: number, act: GruActivation): FloatArray[] {
    this.begin();
    this.dims(k, { rows, cols });
    if (act !== 'tanh' && act !== 'sigmoid') throw new Error(`cpu ${k}: act must be 'tanh' or 'sigmoid', got '${String(act)}'`);
    const n = rows * cols;
    return ss.map((s, i) => this.floats(s, i === 2 ? cols : n, k, ['pz', 'po', 'b', 'h', 'g'][i]!));
  }

  gruUpdate(pz: Storage, po: Storage, b: Storage, h: Storage, rows: number, cols: number, act: GruActivation): Storage {
    const [z, o, bb, hh] = this.gruArgs('gruUpdate', [pz, po, b, h], rows, cols, act);
    return this.wrap('f32', gru.gruUpdate(this.precision, z!, o!, bb!, hh!, cols, act));
  }

  gruUpdateBackward(
    pz: Storage, po: Storage, b: Storage, h: Storage, g: Storage, rows: number, cols: number, act: GruActivation,
  ): { dpz: Storage; dpo: Storage; dh: Storage } {
    const [z, o, bb, hh, gg] = this.gruArgs('gruUpdateBackward', [pz, po, b, h, g], rows, cols, act);
    const r = gru.gruUpdateBackward(this.precision, z!, o!, bb!, hh!, gg!, cols, act);
    return { dpz: this.wrap('f32', r.dpz), dpo: this.wrap('f32', r.dpo), dh: this.wrap('f32', r.dh) };
  }

  // ---- optimizer updates ----

  adamw(p: Storage, g: Storage, m: Storage, v: Storage, h: AdamWParams, gradScale: Storage | null): void {
    this.begin();
    const n = this.st(p, 'adamw', 'p', ['f32']).size;
    const scale = this.scaleOf(gradScale, 'adamw');
    adamw(
      this.floats(p, n, 'adamw', 'p'), this.floats(g, n, 'adamw', 'g'),
      this.floats(m, n, 'adamw', 'm'), this.floats(v, n, 'adamw', 'v'), h, scale,
    );
  }

  sgd(p: Storage, g: Storage, buf: Storage | null, h: SgdParams, gradScale: Storage | null): void {
    this.begin();
    const n = this.st(p, 'sgd', 'p', ['f32']).size;
    const scale = this.scaleOf(gradScale, 'sgd');
    const b = buf === null ? null : this.floats(buf, n, 'sgd', 'buf');
    sgd(this.floats(p, n, 'sgd', 'p'), this.floats(g, n, 'sgd', 'g'), b, h, scale);
  }
}

export function createCpuBackend(opts?: CpuBackendOptions): CpuBackend {
  return new CpuBackend(opts);
}
