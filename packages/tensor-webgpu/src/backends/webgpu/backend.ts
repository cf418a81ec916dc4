/**
 * The WebGPU backend: deferred execution (one command encoder + compute pass accumulating
 * dispatches, submitted by flush or automatically every `maxDispatchesPerSubmit` dispatches),
 * a per-flush uniform arena for kernel parameters, a size-bucketed buffer pool and a pipeline cache.
 */
import type {
  AdamWParams,
  Backend,
  BackendStats,
  BinaryOp,
  ReduceOp,
  RopeParams,
  SgdParams,
  Storage,
  UnaryOp,
  View,
} from '../../backend.js';
import { BYTES, f16BitsToF32, f32ToF16Bits, type DType, type TypedArray } from '../../dtype.js';
import { dropoutThreshold, hash32 } from '../../random.js';
import { isContiguous, numel } from '../../shape.js';
import { BufferPool } from './pool.js';
import { PipelineCache, type KernelDef } from './pipelines.js';
import { checkRank, coalesce, writeStrided, type Layout, type ParamWriter } from './strided.js';
import { GRID_CAP, PARAM_WORDS, WG, rankKind } from './wgsl/common.js';
import {
  accumulateKernel,
  binaryKernel,
  binaryOutDType,
  copyKernel,
  dropoutKernel,
  fillKernel,
  unaryKernel,
  whereKernel,
} from './wgsl/elementwise.js';
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
} from './wgsl/indexing.js';
import { MM_C4, MM_R, MM_TX, MM_TY, mmFastKernel, mmGeneralKernel, mmPackKernel } from './wgsl/matmul.js';
import { adamwKernel, sgdKernel } from './wgsl/optim.js';
import { reduceKernel, reduceOutDType } from './wgsl/reduce.js';
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
} from './wgsl/rows.js';

const SLOT_BYTES = PARAM_WORDS * 4;
const MAX_GROUPS = 65535;
/** Below this many multiply-adds a matmul that does not fit the fast kernel directly runs the general kernel. */
const MM_PACK_MIN_WORK = 1 << 18;

export interface WebGPUBackendOptions {
  maxDispatchesPerSubmit?: number;
}

class WGStorage implements Storage {
  released = false;
  /** Id of the batch (flush) that last used this storage in a dispatch or copy. */
  lastUse = -1;
  constructor(
    readonly backend: WebGPUBackend,
    readonly size: number,
    readonly dtype: DType,
    readonly buffer: GPUBuffer,
  ) {}
}

type Bindable = WGStorage | GPUBuffer;

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly device: GPUDevice;
  readonly hasF16: boolean;
  /** References that must live as long as the device (Dawn's create() result). */
  private readonly keep: unknown[];
  private readonly ownsDevice: boolean;
  private readonly pool: BufferPool;
  private readonly pipes: PipelineCache;
  /** Bind groups by binding signature + buffer ids (creating one costs ~20 us on Dawn). */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufIds = new WeakMap<GPUBuffer, number>();
  private nextBufId = 1;
  private readonly maxDispatches: number;
  private readonly maxBinding: number;
  private readonly arena: GPUBuffer;
  private readonly arenaU32: Uint32Array;
  private readonly arenaI32: Int32Array;
  private readonly arenaF32: Float32Array;
  private readonly writer: ParamWriter & { base: number };
  private slot = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Id of the batch being encoded; increments at every submit. */
  private batch = 0;
  private live = new Set<WGStorage>();
  private bytesInUse = 0;
  private nDispatches = 0;
  private nSubmits = 0;
  private destroyed = false;
  private lostReason: string | null = null;
  private firstError: Error | null = null;
  private readonly lostPromise: Promise<never>;

  constructor(device: GPUDevice, keep: unknown[], ownsDevice: boolean, hasF16: boolean, opts: WebGPUBackendOptions = {}) {
    this.device = device;
    this.keep = keep;
    this.ownsDevice = ownsDevice;
    this.hasF16 = hasF16;
    this.maxDispatches = Math.max(1, Math.floor(opts.maxDispatchesPerSubmit ?? 128));
    this.maxBinding = Math.floor(device.limits.maxStorageBufferBindingSize / 4) * 4;
    this.pool = new BufferPool(device);
    this.pool.onDestroy = () => this.bindGroups.clear();
    this.pipes = new PipelineCache(device);
    this.arena = device.createBuffer({
      size: this.maxDispatches * SLOT_BYTES,
      usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */,
      label: 'param-arena',
    });
    const ab = new ArrayBuffer(this.maxDispatches * SLOT_BYTES);
    this.arenaU32 = new Uint32Array(ab);
    this.arenaI32 = new Int32Array(ab);
    this.arenaF32 = new Float32Array(ab);
    const u32 = this.arenaU32;
    const i32 = this.arenaI32;
    const f32 = this.arenaF32;
    const w = {
      base: 0,
      u(i: number, v: number) {
        u32[w.base + i] = v >>> 0;
      },
      i(i: number, v: number) {
        i32[w.base + i] = v | 0;
      },
      f(i: number, v: number) {
        f32[w.base + i] = v;
      },
    };
    this.writer = w;
    this.lostPromise = device.lost.then((info) => {
      if (!this.destroyed) this.lostReason = info.message || String(info.reason ?? 'unknown');
      throw this.lostError();
    });
    this.lostPromise.catch(() => {});
    const onErr = (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      if (!this.firstError) this.firstError = new Error(`webgpu: ${err?.message ?? 'uncaptured GPU error'}`);
    };
    if (typeof (device as { addEventListener?: unknown }).addEventListener === 'function') {
      device.addEventListener('uncapturederror', onErr);
    } else {
      (device as { onuncapturederror: unknown }).onuncapturederror = onErr;
    }
  }

  // ------------------------------------------------------------------ infrastructure

  private lostError(): Error {
    if (this.destroyed) return new Error('webgpu: backend was destroyed');
    return new Error(`webgpu: device lost: ${this.lostReason ?? 'unknown'}`);
  }

  private ensureOk(): void {
    if (this.destroyed || this.lostReason !== null) throw this.lostError();
  }

  private knownError(): Error | null {
    return this.pipes.error ?? this.firstError;
  }

  private st(s: Storage, what: string): WGStorage {
    if (!(s instanceof WGStorage) || s.backend !== this) {
      throw new Error(`webgpu: ${what}: storage does not belong to this backend`);
    }
    if (s.released) throw new Error(`webgpu: ${what}: storage was released`);
    return s;
  }

  private view(v: View, what: string): WGStorage {
    const s = this.st(v.storage, what);
    if (v.shape.length !== v.strides.length) {
      throw new Error(`webgpu: ${what}: view has ${v.shape.length} dims but ${v.strides.length} strides`);
    }
    if (numel(v.shape) > 0) {
      let lo = v.offset;
      let hi = v.offset;
      for (let d = 0; d < v.shape.length; d++) {
        const e = (v.shape[d]! - 1) * v.strides[d]!;
        if (e < 0) lo += e;
        else hi += e;
      }
      if (lo < 0 || hi >= s.size) {
        throw new Error(`webgpu: ${what}: view [${v.shape}] strides [${v.strides}] offset ${v.offset} is out of bounds of a storage of ${s.size}`);
      }
    }
    return s;
  }

  private alloc(size: number, dtype: DType): WGStorage {
    this.ensureOk();
    if (!Number.isInteger(size) || size < 0) throw new Error(`webgpu: invalid storage size ${size}`);
    const bytes = Math.ceil((size * BYTES[dtype]) / 4) * 4;
    if (bytes > this.device.limits.maxBufferSize) {
      throw new Error(`webgpu: a storage of ${size} ${dtype} (${bytes} bytes) exceeds maxBufferSize ${this.device.limits.maxBufferSize}`);
    }
    const s = new WGStorage(this, size, dtype, this.pool.acquire(Math.max(bytes, 4)));
    this.live.add(s);
    this.bytesInUse += size * BYTES[dtype];
    return s;
  }

  private ensurePass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder;
  }

  private dispatch(
    k: KernelDef,
    bufs: Bindable[],
    params: (p: ParamWriter) => void,
    groups: readonly [number, number, number],
  ): void {
    this.ensureOk();
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    if (this.slot >= this.maxDispatches) this.flush();
    const cp = this.pipes.get(k);
    const w = this.writer;
    w.base = this.slot * PARAM_WORDS;
    this.arenaU32.fill(0, w.base, w.base + PARAM_WORDS);
    params(w);
    let key = cp.sig;
    for (let i = 0; i < bufs.length; i++) {
      const b = bufs[i]!;
      let buffer: GPUBuffer;
      if (b instanceof WGStorage) {
        b.lastUse = this.batch;
        buffer = b.buffer;
      } else buffer = b;
      let id = this.bufIds.get(buffer);
      if (id === undefined) {
        id = this.nextBufId++;
        this.bufIds.set(buffer, id);
      }
      key += ':' + id;
    }
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (bufs.length + 1 !== cp.sig.length) {
        throw new Error(`webgpu: kernel '${k.key}' takes ${cp.sig.length - 1} storages, got ${bufs.length}`);
      }
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.arena, offset: 0, size: SLOT_BYTES } }];
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i]!;
        const buffer = b instanceof WGStorage ? b.buffer : b;
        entries.push({ binding: i + 1, resource: { buffer, offset: 0, size: Math.min(buffer.size, this.maxBinding) } });
      }
      bg = this.device.createBindGroup({ layout: cp.layout, entries });
      if (this.bindGroups.size >= 8192) this.bindGroups.clear();
      this.bindGroups.set(key, bg);
    }
    const pass = this.ensurePass();
    pass.setPipeline(cp.pipeline);
    pass.setBindGroup(0, bg, [this.slot * SLOT_BYTES]);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.slot++;
    this.nDispatches++;
  }

  /** Workgroup grid for `n` items of `per` threads each (2-D when above the 65535 limit). */
  private grid(items: number): [number, number, number] {
    if (items <= MAX_GROUPS) return [items, 1, 1];
    const gy = Math.ceil(items / MAX_GROUPS);
    return [Math.ceil(items / gy), gy, 1];
  }

  /** Grid of a grid-stride 1-D kernel over `items` items. */
  private grid1D(items: number): [number, number, number] {
    return [Math.max(1, Math.min(GRID_CAP, Math.ceil(items / WG))), 1, 1];
  }

  private async keepAlive<T>(p: Promise<T>): Promise<T> {
    const timer = setInterval(() => {}, 20);
    try {
      return await Promise.race([p, this.lostPromise]);
    } finally {
      clearInterval(timer);
    }
  }

  // ------------------------------------------------------------------ storage

  upload(data: TypedArray | ArrayLike<number>, dtype: DType): Storage {
    this.ensureOk();
    let arr: Float32Array | Int32Array | Uint16Array;
    if (dtype === 'f32') arr = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    else if (dtype === 'i32') arr = data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
    else if (dtype === 'f16') {
      if (data instanceof Uint16Array) arr = data;
      else {
        const src = data as ArrayLike<number>;
        arr = new Uint16Array(src.length);
        for (let i = 0; i < src.length; i++) arr[i] = f32ToF16Bits(src[i]!);
      }
    } else throw new Error(`webgpu: upload: unknown dtype ${String(dtype)}`);
    const n = arr.length;
    const s = this.alloc(n, dtype);
    if (n > 0) {
      if (arr.byteLength % 4 !== 0) {
        const padded = new Uint16Array(n + 1);
        padded.set(arr as Uint16Array);
        arr = padded;
      }
      this.device.queue.writeBuffer(s.buffer, 0, arr.buffer, arr.byteOffset, arr.byteLength);
    }
    return s;
  }

  fill(size: number, dtype: DType, value: number): Storage {
    const s = this.alloc(size, dtype);
    let bits: number;
    if (dtype === 'f32') bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
    else if (dtype === 'i32') bits = (Math.trunc(value) | 0) >>> 0;
    else {
      const h = f32ToF16Bits(value);
      bits = (h | (h << 16)) >>> 0;
    }
    this.fillWords(s, dtype === 'f16' ? Math.ceil(size / 2) : size, bits);
    return s;
  }

  private fillWords(s: WGStorage, words: number, bits: number): void {
    if (words === 0) return;
    this.dispatch(fillKernel(), [s], (p) => {
      p.u(0, words);
      p.u(5, bits);
    }, this.grid1D(words));
  }

  async read(views: readonly View[]): Promise<TypedArray[]> {
    this.ensureOk();
    if (this.knownError()) {
      await this.keepAlive(this.pipes.settle());
      throw this.knownError()!;
    }
    const plan: { src: WGStorage; byteOff: number; bytes: number; dtype: DType; n: number; temp: boolean }[] = [];
    for (const v of views) {
      const s = this.view(v, 'read');
      const n = numel(v.shape);
      if (s.dtype !== 'f16' && isContiguous(v.shape, v.strides)) {
        plan.push({ src: s, byteOff: v.offset * 4, bytes: n * 4, dtype: s.dtype, n, temp: false });
      } else {
        const out: DType = s.dtype === 'i32' ? 'i32' : 'f32';
        const t = this.copy(v, out) as WGStorage;
        plan.push({ src: t, byteOff: 0, bytes: n * 4, dtype: out, n, temp: true });
      }
    }
    let total = 0;
    const offs: number[] = [];
    for (const p of plan) {
      offs.push(total);
      total += p.bytes;
    }
    let staging: GPUBuffer | null = null;
    if (total > 0) {
      staging = this.device.createBuffer({ size: total, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
      const enc = this.endPass();
      plan.forEach((p, i) => {
        if (p.bytes === 0) return;
        enc.copyBufferToBuffer(p.src.buffer, p.byteOff, staging!, offs[i]!, p.bytes);
        p.src.lastUse = this.batch;
      });
    }
    for (const p of plan) if (p.temp) this.release(p.src);
    this.flush();
    try {
      if (staging) await this.keepAlive(staging.mapAsync(1 /* GPUMapMode.READ */));
      await this.keepAlive(this.pipes.settle());
    } catch (e) {
      staging?.destroy();
      this.ensureOk();
      throw this.knownError() ?? e;
    }
    const err = this.knownError();
    if (err) {
      staging?.destroy();
      throw err;
    }
    const out: TypedArray[] = [];
    const range = staging ? staging.getMappedRange() : new ArrayBuffer(0);
    plan.forEach((p, i) => {
      const bytes = range.slice(offs[i]!, offs[i]! + p.bytes);
      out.push(p.dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes));
    });
    if (staging) {
      staging.unmap();
      staging.destroy();
    }
    return out;
  }

  release(s: Storage): void {
    if (!(s instanceof WGStorage) || s.backend !== this) throw new Error('webgpu: release: storage does not belong to this backend');
    if (s.released) throw new Error('webgpu: release: storage was already released');
    s.released = true;
    this.live.delete(s);
    this.bytesInUse -= s.size * BYTES[s.dtype];
    if (this.destroyed) return;
    if (s.lastUse === this.batch && this.encoder) this.pool.releaseAfterSubmit(s.buffer);
    else this.pool.releaseNow(s.buffer);
  }

  flush(): void {
    this.ensureOk();
    const err = this.knownError();
    if (this.encoder) {
      if (this.pass) {
        this.pass.end();
        this.pass = null;
      }
      if (this.slot > 0) this.device.queue.writeBuffer(this.arena, 0, this.arenaU32.buffer, 0, this.slot * SLOT_BYTES);
      const cb = this.encoder.finish();
      this.encoder = null;
      this.slot = 0;
      this.device.queue.submit([cb]);
      this.nSubmits++;
      this.batch++;
      this.pool.onSubmitted();
    }
    if (err) throw err;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.keepAlive(this.device.queue.onSubmittedWorkDone());
    await this.keepAlive(this.pipes.settle());
    const err = this.knownError();
    if (err) throw err;
  }

  stats(): BackendStats {
    return {
      liveStorages: this.live.size,
      bytesInUse: this.bytesInUse,
      pooledBytes: this.pool.pooledBytes,
      pipelines: this.pipes.size,
      dispatches: this.nDispatches,
      submits: this.nSubmits,
    };
  }

  destroy(): void {
    if (this.destroyed) return;
    try {
      if (this.encoder && this.lostReason === null) this.flush();
    } catch {
      // errors are reported by sync/read; destroying anyway
    }
    this.destroyed = true;
    for (const s of this.live) s.buffer.destroy();
    this.live.clear();
    this.pool.destroyAll();
    this.arena.destroy();
    this.pipes.clear();
    this.bindGroups.clear();
    if (this.ownsDevice) this.device.destroy();
    this.keep.length = 0;
  }

  // ------------------------------------------------------------------ strided kernels

  private layout(what: string, shape: readonly number[], views: View[]): Layout {
    const L = coalesce(shape, views.map((v) => v.strides), views.map((v) => v.offset));
    checkRank(what, L.shape.length);
    return L;
  }

  copy(x: View, dtype: DType): Storage {
    const s = this.view(x, 'copy');
    const n = numel(x.shape);
    const L = this.layout('copy', x.shape, [x]);
    const out = this.alloc(n, dtype);
    if (n === 0) return out;
    const rank1 = rankKind(L.shape, L.strides);
    const threads = dtype === 'f16' ? Math.ceil(n / 2) : n;
    this.dispatch(copyKernel(s.dtype, dtype, rank1), [s, out], (p) => {
      p.u(0, n);
      writeStrided(p, L);
    }, this.grid1D(threads));
    return out;
  }

  /** vec4 variant for contiguous f32/i32 views with 4-aligned offsets and size. */
  private v4(kind: ReturnType<typeof rankKind>, n: number, L: Layout, dtypes: DType[]): boolean {
    return kind === 'c' && n % 4 === 0 && n >= 4 && L.offsets.every((o) => o % 4 === 0) && dtypes.every((d) => d !== 'f16');
  }

  unary(op: UnaryOp, x: View): Storage {
    const s = this.view(x, `unary ${op}`);
    unaryKernel(op, s.dtype, 'n'); // validates op/dtype before allocating
    const n = numel(x.shape);
    const L = this.layout(`unary ${op}`, x.shape, [x]);
    const out = this.alloc(n, s.dtype === 'i32' ? 'i32' : 'f32');
    if (n === 0) return out;
    const kind = rankKind(L.shape, L.strides);
    if (this.v4(kind, n, L, [s.dtype])) {
      this.dispatch(unaryKernel(op, s.dtype, 'v4'), [s, out], (p) => {
        p.u(0, n / 4);
        p.u(2, L.offsets[0]! / 4);
      }, this.grid1D(n / 4));
      return out;
    }
    this.dispatch(unaryKernel(op, s.dtype, kind), [s, out], (p) => {
      p.u(0, n);
      writeStrided(p, L);
    }, this.grid1D(n));
    return out;
  }

  binary(op: BinaryOp, a: View, b: View): Storage {
    const sa = this.view(a, `binary ${op}`);
    const sb = this.view(b, `binary ${op}`);
    if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new Error(`webgpu: binary ${op}: shapes [${a.shape}] and [${b.shape}] differ`);
    }
    if (sa.dtype !== sb.dtype) throw new Error(`webgpu: binary ${op}: dtypes ${sa.dtype} and ${sb.dtype} differ`);
    const n = numel(a.shape);
    const L = this.layout(`binary ${op}`, a.shape, [a, b]);
    const kind = rankKind(L.shape, L.strides);
    binaryKernel(op, sa.dtype, kind); // validates op/dtype before allocating
    const out = this.alloc(n, binaryOutDType(op, sa.dtype));
    if (n === 0) return out;
    if (this.v4(kind, n, L, [sa.dtype])) {
      this.dispatch(binaryKernel(op, sa.dtype, 'v4'), [sa, sb, out], (p) => {
        p.u(0, n / 4);
        p.u(2, L.offsets[0]! / 4);
        p.u(3, L.offsets[1]! / 4);
      }, this.grid1D(n / 4));
      return out;
    }
    this.dispatch(binaryKernel(op, sa.dtype, kind), [sa, sb, out], (p) => {
      p.u(0, n);
      writeStrided(p, L);
    }, this.grid1D(n));
    return out;
  }

  where(cond: View, a: View, b: View): Storage {
    const sc = this.view(cond, 'where');
    const sa = this.view(a, 'where');
    const sb = this.view(b, 'where');
    if (sa.dtype !== sb.dtype) throw new Error(`webgpu: where: dtypes ${sa.dtype} and ${sb.dtype} differ`);
    for (const v of [cond, b]) {
      if (v.shape.length !== a.shape.length || v.shape.some((d, i) => d !== a.shape[i])) {
        throw new Error(`webgpu: where: shapes [${cond.shape}], [${a.shape}], [${b.shape}] differ`);
      }
    }
    const n = numel(a.shape);
    const L = this.layout('where', a.shape, [cond, a, b]);
    const out = this.alloc(n, sa.dtype === 'i32' ? 'i32' : 'f32');
    if (n === 0) return out;
    this.dispatch(whereKernel(sc.dtype, sa.dtype, rankKind(L.shape, L.strides)), [sc, sa, sb, out], (p) => {
      p.u(0, n);
      writeStrided(p, L);
    }, this.grid1D(n));
    return out;
  }

  reduce(op: ReduceOp, x: View, reduceDims: number): Storage {
    const s = this.view(x, `reduce ${op}`);
    const rank = x.shape.length;
    if (!Number.isInteger(reduceDims) || reduceDims < 0 || reduceDims > rank) {
      throw new Error(`webgpu: reduce ${op}: reduceDims ${reduceDims} invalid for rank ${rank}`);
    }
    const outer = x.shape.slice(0, rank - reduceDims);
    const inner = x.shape.slice(rank - reduceDims);
    const nOut = numel(outer);
    const nRed = numel(inner);
    const Lo = coalesce(outer, [x.strides.slice(0, rank - reduceDims)], [x.offset]);
    const Li = coalesce(inner, [x.strides.slice(rank - reduceDims)], [0]);
    checkRank(`reduce ${op}`, Lo.shape.length);
    checkRank(`reduce ${op}`, Li.shape.length);
    const out = this.alloc(nOut, reduceOutDType(op, s.dtype));
    if (nOut === 0) return out;
    // thread per output when outputs are many or short (workgroup barriers are costly on lavapipe)
    const seq = nRed <= 64 || nOut >= 512;
    const k = reduceKernel(op, s.dtype, seq ? 'seq' : 'wg', Li.shape.length === 1);
    this.dispatch(k, [s, out], (p) => {
      p.u(0, nOut);
      p.u(1, nRed);
      p.u(2, Lo.shape.length);
      p.u(3, Li.shape.length);
      p.i(4, x.offset);
      for (let d = 0; d < Lo.shape.length; d++) {
        p.u(8 + d, Lo.shape[d]!);
        p.i(16 + d, Lo.strides[0]![d]!);
      }
      for (let d = 0; d < Li.shape.length; d++) {
        p.u(24 + d, Li.shape[d]!);
        p.i(32 + d, Li.strides[0]![d]!);
      }
    }, seq ? this.grid1D(nOut) : this.grid(nOut));
    return out;
  }

  matmul(a: View, b: View): Storage {
    const sa = this.view(a, 'matmul');
    const sb = this.view(b, 'matmul');
    const norm = (v: View, what: string): { shape: number[]; strides: number[] } => {
      if (v.shape.length === 3) return { shape: [...v.shape], strides: [...v.strides] };
      if (v.shape.length === 2) return { shape: [1, ...v.shape], strides: [0, ...v.strides] };
      throw new Error(`webgpu: matmul: ${what} must be [B, M, K] / [B, K, N] (rank 3 or 2), got [${v.shape}]`);
    };
    const A = norm(a, 'a');
    const Bv = norm(b, 'b');
    const [B, M, K] = A.shape as [number, number, number];
    const [B2, K2, N] = Bv.shape as [number, number, number];
    if (K !== K2 || B !== B2) throw new Error(`webgpu: matmul: shapes [${a.shape}] and [${b.shape}] do not match`);
    for (const s of [sa, sb]) {
      if (s.dtype === 'i32') throw new Error('webgpu: matmul: i32 operands are not supported (f32 or f16)');
    }
    // strides of size-1 dims are irrelevant: zero them so alignment checks are not fooled
    if (B === 1) A.strides[0] = Bv.strides[0] = 0;
    if (M === 1) A.strides[1] = 0;
    if (N === 1) Bv.strides[2] = 0;
    if (K === 1) A.strides[2] = Bv.strides[1] = 0;
    const out = this.alloc(B * M * N, 'f32');
    if (B * M * N === 0) return out;
    if (K === 0) {
      this.fillWords(out, B * M * N, 0);
      return out;
    }
    const aligned = (st: number[], off: number, rowDim: number, innerDim: number, inner: number, cols: number) =>
      cols % 4 === 0 && inner === 1 && st[rowDim]! % 4 === 0 && st[0]! % 4 === 0 && off % 4 === 0 && st[innerDim] !== undefined;
    const aFast = K % 4 === 0 && (A.strides[2] === 1 || K === 1) && aligned(A.strides, a.offset, 1, 2, K === 1 ? 1 : A.strides[2]!, K);
    const bFast = N % 4 === 0 && K % 4 === 0 && (Bv.strides[2] === 1) && aligned(Bv.strides, b.offset, 1, 2, Bv.strides[2]!, N);
    if (aFast && bFast) {
      this.mmFast(sa, A.strides, a.offset, sb, Bv.strides, b.offset, out, B, M, K, N);
      return out;
    }
    if (B * M * N * K < MM_PACK_MIN_WORK) {
      this.mmGeneral(sa, A.strides, a.offset, sb, Bv.strides, b.offset, out, B, M, K, N);
      return out;
    }
    // pack what does not fit into zero-padded contiguous f32 and run the fast kernel
    const K4 = Math.ceil(K / 4) * 4;
    const N4 = Math.ceil(N / 4) * 4;
    const temps: WGStorage[] = [];
    let pa = sa;
    let pas = A.strides;
    let pao = a.offset;
    if (!aFast) {
      const Ba = A.strides[0] === 0 ? 1 : B;
      pa = this.mmPack(sa, A.strides, a.offset, Ba, M, M, K, K4);
      temps.push(pa);
      pas = [Ba === 1 ? 0 : M * K4, K4, 1];
      pao = 0;
    }
    let pb = sb;
    let pbs = Bv.strides;
    let pbo = b.offset;
    if (!bFast) {
      const Bb = Bv.strides[0] === 0 ? 1 : B;
      pb = this.mmPack(sb, Bv.strides, b.offset, Bb, K4, K, N, N4);
      temps.push(pb);
      pbs = [Bb === 1 ? 0 : K4 * N4, N4, 1];
      pbo = 0;
    }
    if (N4 === N) {
      this.mmFast(pa, pas, pao, pb, pbs, pbo, out, B, M, K4, N);
    } else {
      const wide = this.alloc(B * M * N4, 'f32');
      temps.push(wide);
      this.mmFast(pa, pas, pao, pb, pbs, pbo, wide, B, M, K4, N4);
      const L = coalesce([B, M, N], [[M * N4, N4, 1]], [0]);
      this.dispatch(copyKernel('f32', 'f32', rankKind(L.shape, L.strides)), [wide, out], (p) => {
        p.u(0, B * M * N);
        writeStrided(p, L);
      }, this.grid1D(B * M * N));
    }
    for (const t of temps) this.release(t);
    return out;
  }

  private mmPack(s: WGStorage, st: number[], off: number, Bn: number, R: number, Rv: number, C: number, Cp: number): WGStorage {
    const total = Bn * R * Cp;
    const out = this.alloc(total, 'f32');
    this.dispatch(mmPackKernel(s.dtype), [s, out], (p) => {
      p.u(0, total);
      p.u(1, R);
      p.u(2, C);
      p.u(3, Cp);
      p.i(4, off);
      p.i(5, st[0]!);
      p.i(6, st[1]!);
      p.i(7, st[2]!);
      p.u(8, Rv);
    }, this.grid1D(total));
    return out;
  }

  private mmFast(
    sa: WGStorage, as: number[], ao: number,
    sb: WGStorage, bs: number[], bo: number,
    out: WGStorage, B: number, M: number, K: number, N: number,
  ): void {
    const k = mmFastKernel(sa.dtype, sb.dtype);
    const gx = Math.ceil(N / 4 / MM_C4 / MM_TX);
    const gy = Math.ceil(M / MM_R / MM_TY);
    if (gy > MAX_GROUPS || gx > MAX_GROUPS) throw new Error(`webgpu: matmul: [${M}, ${N}] output is too large for one dispatch`);
    for (let b0 = 0; b0 < B; b0 += MAX_GROUPS) {
      const nb = Math.min(MAX_GROUPS, B - b0);
      this.dispatch(k, [sa, sb, out], (p) => {
        p.u(0, M);
        p.u(1, N / 4);
        p.u(2, K / 4);
        p.u(3, b0);
        p.u(4, as[0]! / 4);
        p.u(5, as[1]! / 4);
        p.u(6, ao / 4);
        p.u(7, bs[0]! / 4);
        p.u(8, bs[1]! / 4);
        p.u(9, bo / 4);
      }, [gx, gy, nb]);
    }
  }

  private mmGeneral(
    sa: WGStorage, as: number[], ao: number,
    sb: WGStorage, bs: number[], bo: number,
    out: WGStorage, B: number, M: number, K: number, N: number,
  ): void {
    const k = mmGeneralKernel(sa.dtype, sb.dtype);
    const gx = Math.ceil(N / 8);
    const gy = Math.ceil(M / 8);
    if (gy > MAX_GROUPS || gx > MAX_GROUPS) throw new Error(`webgpu: matmul: [${M}, ${N}] output is too large for one dispatch`);
    for (let b0 = 0; b0 < B; b0 += MAX_GROUPS) {
      const nb = Math.min(MAX_GROUPS, B - b0);
      this.dispatch(k, [sa, sb, out], (p) => {
        p.u(0, M);
        p.u(1, N);
        p.u(2, K);
        p.u(3, b0);
        p.i(4, ao);
        p.i(5, as[0]!);
        p.i(6, as[1]!);
        p.i(7, as[2]!);
        p.i(8, bo);
        p.i(9, bs[0]!);
        p.i(10, bs[1]!);
        p.i(11, bs[2]!);
      }, [gx, gy, nb]);
    }
  }

  accumulate(dst: Storage, dstOffset: number, src: View, mode: 'copy' | 'add'): void {
    const d = this.st(dst, 'accumulate');
    let s = this.view(src, 'accumulate');
    if (d.dtype === 'f16') throw new Error('webgpu: accumulate: dst must be f32 or i32, got f16');
    const n = numel(src.shape);
    if (!Number.isInteger(dstOffset) || dstOffset < 0 || dstOffset + n > d.size) {
      throw new Error(`webgpu: accumulate: ${n} elements at offset ${dstOffset} overflow a storage of ${d.size}`);
    }
    if (n === 0) return;
    let v: View = src;
    let temp: WGStorage | null = null;
    if (s === d) {
      // the same buffer cannot be bound read-only and writable in one dispatch: copy first
      temp = this.copy(src, d.dtype) as WGStorage;
      s = temp;
      v = { storage: temp, shape: [n], strides: [1], offset: 0 };
    }
    const L = this.layout('accumulate', v.shape, [v]);
    this.dispatch(accumulateKernel(mode, s.dtype, d.dtype, rankKind(L.shape, L.strides)), [s, d], (p) => {
      p.u(0, n);
      writeStrided(p, L);
      p.u(5, dstOffset);
    }, this.grid1D(n));
    if (temp) this.release(temp);
  }

  // ------------------------------------------------------------------ row kernels

  private rowsDispatch(k: KernelDef, W: number, bufs: Bindable[], rows: number, cols: number, extra?: (p: ParamWriter) => void): void {
    this.dispatch(k, bufs, (p) => {
      p.u(0, rows);
      p.u(1, cols);
      extra?.(p);
    }, W === 1 ? this.grid1D(rows) : this.grid(rows));
  }

  private checkSize(s: WGStorage, n: number, what: string, name: string): void {
    if (s.size < n) throw new Error(`webgpu: ${what}: ${name} has ${s.size} elements, needs ${n}`);
  }

  softmax(x: Storage, rows: number, cols: number, log: boolean): Storage {
    const sx = this.st(x, 'softmax');
    this.checkSize(sx, rows * cols, 'softmax', 'x');
    const out = this.alloc(rows * cols, 'f32');
    if (rows * cols === 0) return out;
    const W = rowWG(rows, cols);
    this.rowsDispatch(softmaxKernel(log, W), W, [sx, out], rows, cols);
    return out;
  }

  softmaxBackward(y: Storage, g: Storage, rows: number, cols: number, log: boolean): Storage {
    const sy = this.st(y, 'softmaxBackward');
    const sg = this.st(g, 'softmaxBackward');
    this.checkSize(sy, rows * cols, 'softmaxBackward', 'y');
    this.checkSize(sg, rows * cols, 'softmaxBackward', 'g');
    const out = this.alloc(rows * cols, 'f32');
    if (rows * cols === 0) return out;
    const W = rowWG(rows, cols);
    this.rowsDispatch(softmaxBackwardKernel(log, W), W, [sy, sg, out], rows, cols);
    return out;
  }

  crossEntropy(logits: Storage, target: Storage, rows: number, cols: number, ignoreIndex: number): Storage {
    const sx = this.st(logits, 'crossEntropy');
    const st = this.st(target, 'crossEntropy');
    this.checkSize(sx, rows * cols, 'crossEntropy', 'logits');
    this.checkSize(st, rows, 'crossEntropy', 'target');
    if (st.dtype !== 'i32') throw new Error('webgpu: crossEntropy: target must be i32');
    const out = this.alloc(rows, 'f32');
    if (rows === 0) return out;
    const W = rowWG(rows, cols);
    this.rowsDispatch(crossEntropyKernel(W), W, [sx, st, out], rows, cols, (p) => p.i(2, ignoreIndex));
    return out;
  }

  crossEntropyBackward(logits: Storage, target: Storage, gRow: Storage, rows: number, cols: number, ignoreIndex: number): Storage {
    const sx = this.st(logits, 'crossEntropyBackward');
    const st = this.st(target, 'crossEntropyBackward');
    const sg = this.st(gRow, 'crossEntropyBackward');
    this.checkSize(sx, rows * cols, 'crossEntropyBackward', 'logits');
    this.checkSize(st, rows, 'crossEntropyBackward', 'target');
    this.checkSize(sg, rows, 'crossEntropyBackward', 'gRow');
    const out = this.alloc(rows * cols, 'f32');
    if (rows * cols === 0) return out;
    const W = rowWG(rows, cols);
    this.rowsDispatch(crossEntropyBackwardKernel(W), W, [sx, st, sg, out], rows, cols, (p) => p.i(2, ignoreIndex));
    return out;
  }

  rmsnorm(x: Storage, w: Storage, rows: number, cols: number, eps: number): Storage {
    const sx = this.st(x, 'rmsnorm');
    const sw = this.st(w, 'rmsnorm');
    this.checkSize(sx, rows * cols, 'rmsnorm', 'x');
    this.checkSize(sw, cols, 'rmsnorm', 'w');
    const out = this.alloc(rows * cols, 'f32');
    if (rows * cols === 0) return out;
    const W = rowWG(rows, cols);
    this.rowsDispatch(rmsnormKernel(W), W, [sx, sw, out], rows, cols, (p) => p.f(2, eps));
    return out;
  }

  rmsnormBackward(x: Storage, w: Storage, g: Storage, rows: number, cols: number, eps: number): { dx: Storage; dw: Storage } {
    const sx = this.st(x, 'rmsnormBackward');
    const sw = this.st(w, 'rmsnormBackward');
    const sg = this.st(g, 'rmsnormBackward');
    this.checkSize(sx, rows * cols, 'rmsnormBackward', 'x');
    this.checkSize(sw, cols, 'rmsnormBackward', 'w');
    this.checkSize(sg, rows * cols, 'rmsnormBackward', 'g');
    const dx = this.alloc(rows * cols, 'f32');
    const dw = this.alloc(cols, 'f32');
    if (cols === 0) return { dx, dw };
    if (rows === 0) {
      this.fillWords(dw, cols, 0);
      return { dx, dw };
    }
    const r = this.alloc(rows, 'f32');
    const W = rowWG(rows, cols);
    this.rowsDispatch(rmsnormBackwardRowsKernel(W), W, [sx, sw, sg, dx, r], rows, cols, (p) => p.f(2, eps));
    const WC = cols >= 64 ? 1 : 32;
    this.dispatch(rmsnormBackwardColsKernel(WC), [sx, sg, r, dw], (p) => {
      p.u(0, rows);
      p.u(1, cols);
    }, WC === 1 ? this.grid1D(cols) : this.grid(cols));
    this.release(r);
    return { dx, dw };
  }

  rope(x: Storage, q: RopeParams): Storage {
    const sx = this.st(x, 'rope');
    const { n, t, h, d } = q;
    if (d % 2 !== 0) throw new Error(`webgpu: rope: head size d = ${d} must be even`);
    const total = n * t * h * d;
    this.checkSize(sx, total, 'rope', 'x');
    const out = this.alloc(total, 'f32');
    if (total === 0) return out;
    const pairs = total / 2;
    this.dispatch(ropeKernel(), [sx, out], (p) => {
      p.u(0, pairs);
      p.u(1, t);
      p.u(2, h);
      p.u(3, d);
      p.i(4, q.startPos);
      p.u(5, q.layout === 'half' ? 1 : 0);
      p.f(6, q.inverse ? -1 : 1);
      p.f(7, Math.log2(q.theta));
    }, this.grid1D(pairs));
    return out;
  }

  gatherRows(x: Storage, idx: Storage, rows: number, cols: number, n: number): Storage {
    const sx = this.st(x, 'gatherRows');
    const si = this.st(idx, 'gatherRows');
    this.checkSize(sx, rows * cols, 'gatherRows', 'x');
    this.checkSize(si, n, 'gatherRows', 'idx');
    const out = this.alloc(n * cols, 'f32');
    if (n * cols === 0) return out;
    this.dispatch(gatherRowsKernel(), [sx, si, out], (p) => {
      p.u(0, n * cols);
      p.u(1, rows);
      p.u(2, cols);
    }, this.grid1D(n * cols));
    return out;
  }

  scatterAddRows(src: Storage, idx: Storage, n: number, cols: number, rows: number): Storage {
    const ss = this.st(src, 'scatterAddRows');
    const si = this.st(idx, 'scatterAddRows');
    this.checkSize(ss, n * cols, 'scatterAddRows', 'src');
    this.checkSize(si, n, 'scatterAddRows', 'idx');
    const out = this.alloc(rows * cols, 'f32');
    if (rows * cols === 0) return out;
    if (n === 0) {
      this.fillWords(out, rows * cols, 0);
      return out;
    }
    const cnt = this.alloc(rows, 'i32');
    const starts = this.alloc(rows + 1, 'i32');
    const list = this.alloc(n, 'i32');
    this.fillWords(cnt, rows, 0);
    const nr = (p: ParamWriter) => {
      p.u(0, n);
      p.u(1, rows);
    };
    this.dispatch(csrCountKernel(), [si, cnt], nr, this.grid1D(n));
    this.dispatch(csrScanKernel(), [cnt, starts], (p) => p.u(0, rows), [1, 1, 1]);
    if (rows <= n) this.dispatch(csrFillByRowKernel(), [si, starts, list], nr, this.grid1D(rows));
    else this.dispatch(csrFillByItemKernel(), [si, starts, list], nr, this.grid1D(n));
    this.dispatch(csrSumKernel(), [ss, starts, list, out], (p) => {
      p.u(0, rows * cols);
      p.u(1, cols);
    }, this.grid1D(rows * cols));
    this.release(cnt);
    this.release(starts);
    this.release(list);
    return out;
  }

  gatherCols(x: Storage, idx: Storage, rows: number, cols: number, k: number): Storage {
    const sx = this.st(x, 'gatherCols');
    const si = this.st(idx, 'gatherCols');
    this.checkSize(sx, rows * cols, 'gatherCols', 'x');
    this.checkSize(si, rows * k, 'gatherCols', 'idx');
    const out = this.alloc(rows * k, 'f32');
    if (rows * k === 0) return out;
    this.dispatch(gatherColsKernel(), [sx, si, out], (p) => {
      p.u(0, rows * k);
      p.u(1, cols);
      p.u(2, k);
    }, this.grid1D(rows * k));
    return out;
  }

  scatterAddCols(g: Storage, idx: Storage, rows: number, k: number, cols: number): Storage {
    const sg = this.st(g, 'scatterAddCols');
    const si = this.st(idx, 'scatterAddCols');
    this.checkSize(sg, rows * k, 'scatterAddCols', 'g');
    this.checkSize(si, rows * k, 'scatterAddCols', 'idx');
    const out = this.alloc(rows * cols, 'f32');
    if (rows * cols === 0) return out;
    this.dispatch(scatterAddColsKernel(), [sg, si, out], (p) => {
      p.u(0, rows * cols);
      p.u(1, k);
      p.u(2, cols);
    }, this.grid1D(rows * cols));
    return out;
  }

  sortRows(x: Storage, rows: number, cols: number, k: number, descending: boolean): { values: Storage; indices: Storage } {
    const sx = this.st(x, 'sortRows');
    this.checkSize(sx, rows * cols, 'sortRows', 'x');
    if (!Number.isInteger(k) || k < 0 || k > cols) throw new Error(`webgpu: sortRows: k = ${k} must be in [0, ${cols}]`);
    const values = this.alloc(rows * k, 'f32');
    const indices = this.alloc(rows * k, 'i32');
    if (rows * k === 0) return { values, indices };
    this.dispatch(sortRowsKernel(), [sx, values, indices], (p) => {
      p.u(0, rows * cols);
      p.u(1, cols);
      p.u(2, k);
      p.u(3, descending ? 1 : 0);
    }, this.grid1D(rows * cols));
    return { values, indices };
  }

  dropoutMask(size: number, p: number, seed: number): Storage {
    const out = this.alloc(size, 'f32');
    if (size === 0) return out;
    const seedHash = hash32(seed >>> 0);
    const threshold = dropoutThreshold(p);
    const scale = 1 / (1 - p);
    this.dispatch(dropoutKernel(), [out], (w) => {
      w.u(0, size);
      w.u(5, seedHash);
      w.u(6, threshold);
      w.f(7, scale);
    }, this.grid1D(size));
    return out;
  }

  // ------------------------------------------------------------------ optimizers

  adamw(p: Storage, g: Storage, m: Storage, v: Storage, h: AdamWParams, gradScale: Storage | null): void {
    const sp = this.st(p, 'adamw');
    const sg = this.st(g, 'adamw');
    const sm = this.st(m, 'adamw');
    const sv = this.st(v, 'adamw');
    const ss = gradScale ? this.st(gradScale, 'adamw gradScale') : null;
    const n = sp.size;
    for (const [s, name] of [[sg, 'g'], [sm, 'm'], [sv, 'v']] as const) this.checkSize(s, n, 'adamw', name);
    if (n === 0) return;
    const bufs: Bindable[] = [sp, sg, sm, sv];
    if (ss) bufs.push(ss);
    this.dispatch(adamwKernel(!!ss), bufs, (w) => {
      w.u(0, n);
      w.f(2, h.lr);
      w.f(3, h.beta1);
      w.f(4, h.beta2);
      w.f(5, h.eps);
      w.f(6, h.weightDecay);
      w.f(7, h.bc1);
      w.f(8, h.bc2);
    }, this.grid1D(n));
  }

  sgd(p: Storage, g: Storage, buf: Storage | null, h: SgdParams, gradScale: Storage | null): void {
    const sp = this.st(p, 'sgd');
    const sg = this.st(g, 'sgd');
    const sb = buf ? this.st(buf, 'sgd buf') : null;
    const ss = gradScale ? this.st(gradScale, 'sgd gradScale') : null;
    const n = sp.size;
    this.checkSize(sg, n, 'sgd', 'g');
    if (sb) this.checkSize(sb, n, 'sgd', 'buf');
    if (n === 0) return;
    const bufs: Bindable[] = [sp, sg];
    if (sb) bufs.push(sb);
    if (ss) bufs.push(ss);
    this.dispatch(sgdKernel(!!sb, !!ss), bufs, (w) => {
      w.u(0, n);
      w.u(1, h.firstStep ? 1 : 0);
      w.f(2, h.lr);
      w.f(3, h.momentum);
      w.f(4, h.weightDecay);
    }, this.grid1D(n));
  }

  // ------------------------------------------------------------------ for tests

  /** Compile a kernel from raw WGSL (tests use it to check that compile errors surface). */
  compileForTest(key: string, code: string): void {
    this.pipes.get({ key, code: () => code });
  }

  /** Wait for outstanding compile checks and return the first compile error, if any. */
  async compileErrorForTest(): Promise<Error | null> {
    await this.keepAlive(this.pipes.settle());
    return this.pipes.error;
  }
}
