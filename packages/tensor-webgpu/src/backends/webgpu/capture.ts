/**
 * Step capture on webgpu (the backend half of capture/step.ts). While a Recorder is attached, the
 * runtime reports every dispatch (pipeline, bind group, parameter words, grid), upload and submit;
 * a replay feeds them back through the runtime's encoder with no op-layer work. Every buffer a
 * recording touched is held out of the pool until the recording is disposed, so no other storage
 * can take it and each replay finds the buffers exactly as the previous one left them.
 */
import { isConstantStorage } from '../../engine.js';
import { captureFail, captureUpload, type BackendCapture } from '../../capture/state.js';
import type { BufferPool } from './pool.js';
import type { Bindable, WebGPURuntime, WGStorage } from './runtime.js';

type Groups = readonly [number, number, number];

type Command =
  | { op: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; words: Uint32Array; groups: Groups }
  | { op: 'upload'; buffer: GPUBuffer; data: Uint8Array<ArrayBuffer> }
  | { op: 'submit' }
  | { op: 'live'; run: () => void };

const isStorage = (b: Bindable): b is WGStorage => 'lastUse' in b;

/** The runtime's capture bookkeeping: the active recorder and the buffers recordings hold. */
export class Captures {
  /** The recorder the runtime reports to, or null. */
  rec: Recorder | null = null;
  private counts = new Map<GPUBuffer, number>();
  /** Held buffers that no live storage owns any more: they go back to the pool with the last holder. */
  private orphans = new Set<GPUBuffer>();
  private poolCap = 0;

  constructor(private readonly pool: BufferPool) {}

  /** On release of `s`: true when a recording keeps its buffer out of the pool. */
  keeps(s: WGStorage): boolean {
    // A storage from before the capture that the step reads must keep its contents for the
    // replays, so it must not be reused later in the same capture either.
    if (!this.counts.has(s.buffer) && !this.rec?.usesOutside(s)) return false;
    this.orphans.add(s.buffer);
    return true;
  }

  attach(r: Recorder): void {
    if (this.rec) throw new Error('captureStep: another step is being captured on this backend');
    this.rec = r;
    // A buffer the recording uses and then frees must survive in the pool until the capture ends.
    this.poolCap = this.pool.maxPooledBytes;
    this.pool.maxPooledBytes = Infinity;
  }

  detach(r: Recorder): void {
    if (this.rec !== r) return;
    this.rec = null;
    this.pool.maxPooledBytes = this.poolCap;
  }

  hold(bufs: Iterable<GPUBuffer>): void {
    for (const b of bufs) {
      this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
      if (this.pool.claim(b)) this.orphans.add(b);
    }
  }

  unhold(bufs: Iterable<GPUBuffer>, counted: boolean, destroyed: boolean): void {
    for (const b of bufs) {
      const n = this.counts.get(b) ?? 0;
      // an abandoned recording never counted its buffers: only its orphans that no other holds go back
      if (counted ? n > 1 : n > 0) {
        if (counted) this.counts.set(b, n - 1);
        continue;
      }
      this.counts.delete(b);
      if (this.orphans.delete(b) && !destroyed) this.pool.releaseNow(b);
    }
  }
}

export class Recorder implements BackendCapture {
  private readonly cmds: Command[] = [];
  /** Every buffer a recorded command binds or writes. */
  private readonly buffers = new Set<GPUBuffer>();
  private readonly born = new WeakSet<WGStorage>();
  /** Storages from before the capture that the step uses: they must outlive the recording. */
  private readonly outside = new Set<WGStorage>();
  private state: 'recording' | 'ready' | 'disposed' = 'recording';

  constructor(
    private readonly rt: WebGPURuntime,
    private readonly caps: Captures,
  ) {
    rt.flush(); // the recording starts on an empty batch, as every replay will
    caps.attach(this);
  }

  // ---------------------------------------------------------------- reports from the runtime

  allocated(s: WGStorage): void {
    this.born.add(s);
  }

  usesOutside(s: WGStorage): boolean {
    return !this.born.has(s) && this.buffers.has(s.buffer);
  }

  dispatch(pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, words: Uint32Array, groups: Groups, bufs: readonly Bindable[]): void {
    this.cmds.push({ op: 'dispatch', pipeline, bindGroup, words: words.slice(), groups: [groups[0], groups[1], groups[2]] });
    for (const b of bufs) this.touch(b);
  }

  upload(s: WGStorage, data: ArrayBufferView): void {
    captureUpload('backend.upload');
    this.cmds.push({ op: 'upload', buffer: s.buffer, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() });
    this.touch(s);
  }

  submitted(): void {
    this.cmds.push({ op: 'submit' });
  }

  copied(): void {
    captureFail('a readback or buffer copy (tensor.data(), item(), readAll()) inside the captured step: a replay cannot hand data to ' +
      'the host mid-step or branch on it; read the step\'s outputs after run()');
  }

  private touch(b: Bindable): void {
    if (!isStorage(b)) {
      this.buffers.add(b);
      return;
    }
    this.buffers.add(b.buffer);
    if (!this.born.has(b)) this.outside.add(b);
  }

  // ---------------------------------------------------------------- BackendCapture

  live(now: () => void, again: () => void): void {
    this.cmds.push({ op: 'live', run: again });
    this.caps.detach(this);
    try {
      now();
    } finally {
      this.caps.attach(this);
    }
  }

  end(): void {
    if (this.state !== 'recording') throw new Error(`captureStep: end() on a ${this.state} recording`);
    this.caps.detach(this);
    this.caps.hold(this.buffers);
    // Replays leave their last batch open like eager steps do: a readback or the next run submits it.
    if (this.cmds[this.cmds.length - 1]?.op === 'submit') this.cmds.pop();
    this.state = 'ready';
  }

  replay(): void {
    if (this.state !== 'ready') throw new Error(`captureStep: run() on a ${this.state} capture`);
    this.rt.ensureOk();
    for (const s of this.outside) {
      if (s.released && !isConstantStorage(s)) {
        throw new Error(`captureStep: run(): a ${s.dtype} storage of ${s.size} elements that the captured step uses (an input, parameter or ` +
          'optimizer state created before the capture) was released; write new inputs with assign() instead of replacing the ' +
          'tensors, and keep parameters and the optimizer alive until step.dispose()');
      }
    }
    const rt = this.rt;
    rt.flush(); // pending eager work goes first, so batches split exactly where they did when recorded
    for (const c of this.cmds) {
      if (c.op === 'dispatch') rt.encodeRecorded(c.pipeline, c.bindGroup, c.words, c.groups);
      else if (c.op === 'upload') rt.device.queue.writeBuffer(c.buffer, 0, c.data);
      else if (c.op === 'submit') rt.flush();
      else {
        try {
          c.run();
        } catch (e) {
          throw new Error(`captureStep: run(): the host-side part of the step (optimizer update) failed: ${(e as Error).message}`, { cause: e });
        }
      }
    }
  }

  dispose(): void {
    if (this.state === 'disposed') return;
    const counted = this.state === 'ready';
    this.caps.detach(this);
    // the last replay's batch may still be open: submit it before its buffers can be reused
    if (counted && !this.rt.isDestroyed) this.rt.flush();
    this.state = 'disposed';
    this.caps.unhold(this.buffers, counted, this.rt.isDestroyed);
    this.cmds.length = 0;
    this.buffers.clear();
    this.outside.clear();
  }
}
