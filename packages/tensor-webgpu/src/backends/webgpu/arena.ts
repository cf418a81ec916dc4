/**
 * The uniform arena: one PARAM_WORDS slot of kernel parameters per dispatch of a batch, written on
 * the host and uploaded once at submit; a dispatch binds its slot's bind group as group 1.
 */
import type { ParamWriter } from './strided.js';
import { PARAM_WORDS } from './wgsl/common.js';

export const SLOT_BYTES = PARAM_WORDS * 4;

export class ParamArena {
  readonly buffer: GPUBuffer;
  /** Bind group of each slot (bind group 1 of every kernel). */
  readonly groups: GPUBindGroup[];
  private readonly u32: Uint32Array;
  private readonly w: ParamWriter & { base: number };

  constructor(device: GPUDevice, slots: number, layout: GPUBindGroupLayout) {
    const buffer = (this.buffer = device.createBuffer({
      size: slots * SLOT_BYTES,
      usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */,
      label: 'param-arena',
    }));
    this.groups = Array.from({ length: slots }, (_, i) =>
      device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer, offset: i * SLOT_BYTES, size: SLOT_BYTES } }] }),
    );
    const ab = new ArrayBuffer(slots * SLOT_BYTES);
    const u32 = (this.u32 = new Uint32Array(ab));
    const i32 = new Int32Array(ab);
    const f32 = new Float32Array(ab);
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
    this.w = w;
  }

  /** A writer into slot `slot`, zeroed first (one writer is reused: it is valid until the next call). */
  writer(slot: number): ParamWriter {
    const base = (this.w.base = slot * PARAM_WORDS);
    this.u32.fill(0, base, base + PARAM_WORDS);
    return this.w;
  }

  /** The words of slot `slot` as written so far (a view: copy it to keep it). */
  words(slot: number): Uint32Array {
    return this.u32.subarray(slot * PARAM_WORDS, (slot + 1) * PARAM_WORDS);
  }

  /** Write a whole slot from recorded words (capture replay). */
  setWords(slot: number, words: Uint32Array): void {
    this.u32.set(words, slot * PARAM_WORDS);
  }

  /** Upload the first `used` slots. */
  upload(queue: GPUQueue, used: number): void {
    queue.writeBuffer(this.buffer, 0, this.u32.buffer, 0, used * SLOT_BYTES);
  }
}
