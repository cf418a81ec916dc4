/**
 * The WebGPU runtime under the backend: deferred execution (one command encoder + compute pass
 * accumulating dispatches, submitted by flush or automatically every `maxDispatchesPerSubmit`
 * dispatches), a per-flush uniform arena for kernel parameters, a size-bucketed buffer pool, a
 * pipeline cache and a bind-group cache. Kernel launches (launch/*.ts) and transfers (storage.ts)
 * are written against this class.
 */
import type { Backend, BackendStats, Storage, View } from '../../backend.js';
import { BYTES, type DType } from '../../dtype.js';
import { numel } from '../../shape.js';
import { ParamArena } from './arena.js';
import { Captures } from './capture.js';
import { summarize, type AdapterSummary } from './device.js';
import type { MatmulTuning } from './launch/narrow.js';
import { BufferPool } from './pool.js';
import { PipelineCache, type KernelDef } from './pipelines.js';
import type { ParamWriter } from './strided.js';
import { GRID_CAP, WG } from './wgsl/common.js';

export const MAX_GROUPS = 65535;

export interface WebGPUBackendOptions {
  maxDispatchesPerSubmit?: number;
  matmul?: MatmulTuning;
  /** The adapter (device.ts summarize); kernels tuned for GPUs are skipped on software ones. */
  adapter?: AdapterSummary;
}

export class WGStorage implements Storage {
  released = false;
  /** Id of the batch (flush) that last used this storage in a dispatch or copy. */
  lastUse = -1;
  constructor(
    readonly backend: Backend,
    readonly size: number,
    readonly dtype: DType,
    readonly buffer: GPUBuffer,
  ) {}
}

export type Bindable = WGStorage | GPUBuffer;

/** Workgroup grid for `items` workgroups (2-D when above the 65535 limit). */
export function grid(items: number): [number, number, number] {
  if (items <= MAX_GROUPS) return [items, 1, 1];
  const gy = Math.ceil(items / MAX_GROUPS);
  return [Math.ceil(items / gy), gy, 1];
}

/** Grid of a grid-stride 1-D kernel over `items` items. */
export function grid1D(items: number): [number, number, number] {
  return [Math.max(1, Math.min(GRID_CAP, Math.ceil(items / WG))), 1, 1];
}

export class WebGPURuntime {
  readonly device: GPUDevice;
  readonly pipes: PipelineCache;
  /** Which matmul kernels launch/matmul.ts may pick. */
  readonly matmulTuning: MatmulTuning;
  readonly adapter: AdapterSummary;
  /** Id of the batch being encoded; increments at every submit. */
  batch = 0;
  /** References that must live as long as the device (Dawn's create() result). */
  private readonly keep: unknown[];
  private readonly pool: BufferPool;
  /** Bind groups by binding signature + buffer ids (creating one costs ~20 us on Dawn). */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufIds = new WeakMap<GPUBuffer, number>();
  private nextBufId = 1;
  private readonly maxDispatches: number;
  private readonly maxBinding: number;
  private readonly arena: ParamArena;
  /** Step capture (capture.ts): the recorder that hears about every command, and held buffers. */
  readonly captures: Captures;
  private slot = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Pipeline last set in the open pass: consecutive dispatches of one kernel skip the call (~1 us each through N-API). */
  private passPipeline: GPUComputePipeline | null = null;
  private live = new Set<WGStorage>();
  private bytesInUse = 0;
  private nDispatches = 0;
  private nSubmits = 0;
  private destroyed = false;
  private lostReason: string | null = null;
  private firstError: Error | null = null;
  private readonly lostPromise: Promise<never>;

  constructor(
    /** The backend that storages report as theirs and that ownership checks compare against. */
    private readonly owner: Backend,
    device: GPUDevice,
    keep: unknown[],
    private readonly ownsDevice: boolean,
    opts: WebGPUBackendOptions = {},
  ) {
    this.device = device;
    this.keep = keep;
    this.matmulTuning = opts.matmul ?? {};
    this.adapter = opts.adapter ?? summarize(undefined);
    this.maxDispatches = Math.max(1, Math.floor(opts.maxDispatchesPerSubmit ?? 128));
    this.maxBinding = Math.floor(device.limits.maxStorageBufferBindingSize / 4) * 4;
    this.pool = new BufferPool(device);
    this.pool.onDestroy = () => this.bindGroups.clear();
    this.captures = new Captures(this.pool);
    this.pipes = new PipelineCache(device);
    this.arena = new ParamArena(device, this.maxDispatches, this.pipes.paramLayout);
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

  // ------------------------------------------------------------------ errors and validation

  private lostError(): Error {
    if (this.destroyed) return new Error('webgpu: backend was destroyed');
    return new Error(`webgpu: device lost: ${this.lostReason ?? 'unknown'}`);
  }

  ensureOk(): void {
    if (this.destroyed || this.lostReason !== null) throw this.lostError();
  }

  knownError(): Error | null {
    return this.pipes.error ?? this.firstError;
  }

  st(s: Storage, what: string): WGStorage {
    if (!(s instanceof WGStorage) || s.backend !== this.owner) {
      throw new Error(`webgpu: ${what}: storage does not belong to this backend`);
    }
    if (s.released) throw new Error(`webgpu: ${what}: storage was released`);
    return s;
  }

  view(v: View, what: string): WGStorage {
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

  checkSize(s: WGStorage, n: number, what: string, name: string): void {
    if (s.size < n) throw new Error(`webgpu: ${what}: ${name} has ${s.size} elements, needs ${n}`);
  }

  /**
   * The storages of a contiguous kernel's operands, each given as [storage, elements needed, name].
   * Every ownership check runs before any size check, so the first error reported stays the same.
   */
  inputs<T extends readonly (readonly [Storage, number, string])[]>(what: string, ...specs: T): { [K in keyof T]: WGStorage } {
    const ss = specs.map(([s]) => this.st(s, what));
    specs.forEach(([, n, name], i) => this.checkSize(ss[i]!, n, what, name));
    return ss as { [K in keyof T]: WGStorage };
  }

  // ------------------------------------------------------------------ storages

  alloc(size: number, dtype: DType): WGStorage {
    this.ensureOk();
    if (!Number.isInteger(size) || size < 0) throw new Error(`webgpu: invalid storage size ${size}`);
    const bytes = Math.ceil((size * BYTES[dtype]) / 4) * 4;
    if (bytes > this.device.limits.maxBufferSize) {
      throw new Error(`webgpu: a storage of ${size} ${dtype} (${bytes} bytes) exceeds maxBufferSize ${this.device.limits.maxBufferSize}`);
    }
    const s = new WGStorage(this.owner, size, dtype, this.pool.acquire(Math.max(bytes, 4)));
    this.live.add(s);
    this.bytesInUse += size * BYTES[dtype];
    this.captures.rec?.allocated(s);
    return s;
  }

  release(s: Storage): void {
    if (!(s instanceof WGStorage) || s.backend !== this.owner) throw new Error('webgpu: release: storage does not belong to this backend');
    if (s.released) throw new Error('webgpu: release: storage was already released');
    s.released = true;
    this.live.delete(s);
    this.bytesInUse -= s.size * BYTES[s.dtype];
    if (this.destroyed || this.captures.keeps(s)) return;
    if (s.lastUse === this.batch && this.encoder) this.pool.releaseAfterSubmit(s.buffer);
    else this.pool.releaseNow(s.buffer);
  }

  // ------------------------------------------------------------------ encoding

  private ensurePass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) {
      this.pass = this.encoder.beginComputePass();
      this.passPipeline = null;
    }
    return this.pass;
  }

  /** The open encoder with no compute pass open, for buffer copies. */
  endPass(): GPUCommandEncoder {
    this.captures.rec?.copied();
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder;
  }

  dispatch(
    k: KernelDef,
    bufs: Bindable[],
    params: (p: ParamWriter) => void,
    groups: readonly [number, number, number],
  ): void {
    this.ensureOk();
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    if (this.slot >= this.maxDispatches) this.flush();
    const cp = this.pipes.get(k);
    params(this.arena.writer(this.slot));
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
      const entries: GPUBindGroupEntry[] = [];
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i]!;
        const buffer = b instanceof WGStorage ? b.buffer : b;
        entries.push({ binding: i + 1, resource: { buffer, offset: 0, size: Math.min(buffer.size, this.maxBinding) } });
      }
      bg = this.device.createBindGroup({ layout: cp.layout, entries });
      // Kept small: a training step creates ~1000 bind groups, each holding a lavapipe descriptor set until
      // the GC finalises it; with 8192 cached, loading several models in one process segfaulted inside
      // lavapipe's descriptor pool allocation (gdb: DescriptorSetAllocator::AllocateDescriptorPool).
      if (this.bindGroups.size >= 1024) this.bindGroups.clear();
      this.bindGroups.set(key, bg);
    }
    this.captures.rec?.dispatch(cp.pipeline, bg, this.arena.words(this.slot), groups, bufs);
    this.encode(cp.pipeline, bg, groups);
  }

  /** Upload host data into a storage (captures record it). */
  writeBuffer(s: WGStorage, data: ArrayBufferView): void {
    this.captures.rec?.upload(s, data);
    this.device.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Encode a dispatch a capture recorded, with its parameter words, into the current batch. */
  encodeRecorded(pipeline: GPUComputePipeline, bg: GPUBindGroup, words: Uint32Array, groups: readonly [number, number, number]): void {
    if (this.slot >= this.maxDispatches) this.flush();
    this.arena.setWords(this.slot, words);
    this.encode(pipeline, bg, groups);
  }

  /** One dispatch into the open pass, its parameters in the current arena slot (bind group 1). */
  private encode(pipeline: GPUComputePipeline, bg: GPUBindGroup, groups: readonly [number, number, number]): void {
    const pass = this.ensurePass();
    if (pipeline !== this.passPipeline) {
      pass.setPipeline(pipeline);
      this.passPipeline = pipeline;
    }
    pass.setBindGroup(0, bg);
    pass.setBindGroup(1, this.arena.groups[this.slot]!);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.slot++;
    this.nDispatches++;
  }

  // ------------------------------------------------------------------ submission and lifetime

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Await `p`, failing fast on device loss; the interval keeps Node alive while Dawn's promise is pending. */
  async keepAlive<T>(p: Promise<T>): Promise<T> {
    const timer = setInterval(() => {}, 20);
    try {
      return await Promise.race([p, this.lostPromise]);
    } finally {
      clearInterval(timer);
    }
  }

  flush(): void {
    this.ensureOk();
    const err = this.knownError();
    if (this.encoder) {
      if (this.pass) {
        this.pass.end();
        this.pass = null;
      }
      if (this.slot > 0) this.arena.upload(this.device.queue, this.slot);
      const cb = this.encoder.finish();
      this.encoder = null;
      this.slot = 0;
      this.device.queue.submit([cb]);
      this.nSubmits++;
      this.batch++;
      this.pool.onSubmitted();
      this.captures.rec?.submitted();
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
    this.arena.buffer.destroy();
    this.pipes.clear();
    this.bindGroups.clear();
    if (this.ownsDevice) this.device.destroy();
    this.keep.length = 0;
  }
}
