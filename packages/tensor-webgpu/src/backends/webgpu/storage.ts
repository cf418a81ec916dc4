/** Moving data between the host and storages: upload, fill and batched readback. */
import type { Storage, View } from '../../backend.js';
import { f32ToF16Bits, type DType, type TypedArray } from '../../dtype.js';
import { isContiguous, numel } from '../../shape.js';
import { copy, fillWords } from './launch/elementwise.js';
import type { WebGPURuntime, WGStorage } from './runtime.js';

export function upload(rt: WebGPURuntime, data: TypedArray | ArrayLike<number>, dtype: DType): Storage {
  rt.ensureOk();
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
  const s = rt.alloc(n, dtype);
  if (n > 0) {
    // writeBuffer wants a multiple of 4 bytes: an odd f16 count gets one word of padding
    if (arr.byteLength % 4 !== 0) {
      const padded = new Uint16Array(n + 1);
      padded.set(arr as Uint16Array);
      arr = padded;
    }
    rt.writeBuffer(s, arr);
  }
  return s;
}

export function fill(rt: WebGPURuntime, size: number, dtype: DType, value: number): Storage {
  const s = rt.alloc(size, dtype);
  let bits: number;
  if (dtype === 'f32') bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  else if (dtype === 'i32') bits = (Math.trunc(value) | 0) >>> 0;
  else {
    const h = f32ToF16Bits(value);
    bits = (h | (h << 16)) >>> 0;
  }
  fillWords(rt, s, dtype === 'f16' ? Math.ceil(size / 2) : size, bits);
  return s;
}

interface ReadPlan {
  src: WGStorage;
  byteOff: number;
  bytes: number;
  dtype: DType;
  n: number;
  temp: boolean;
}

/** Read views in one submit: contiguous f32/i32 views are copied as they are, the rest packed first. */
export async function read(rt: WebGPURuntime, views: readonly View[]): Promise<TypedArray[]> {
  rt.ensureOk();
  if (rt.knownError()) {
    await rt.keepAlive(rt.pipes.settle());
    throw rt.knownError()!;
  }
  const plan: ReadPlan[] = [];
  for (const v of views) {
    const s = rt.view(v, 'read');
    const n = numel(v.shape);
    if (s.dtype !== 'f16' && isContiguous(v.shape, v.strides)) {
      plan.push({ src: s, byteOff: v.offset * 4, bytes: n * 4, dtype: s.dtype, n, temp: false });
    } else {
      const out: DType = s.dtype === 'i32' ? 'i32' : 'f32';
      const t = copy(rt, v, out);
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
    staging = rt.device.createBuffer({ size: total, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
    const enc = rt.endPass();
    plan.forEach((p, i) => {
      if (p.bytes === 0) return;
      enc.copyBufferToBuffer(p.src.buffer, p.byteOff, staging!, offs[i]!, p.bytes);
      p.src.lastUse = rt.batch;
    });
  }
  for (const p of plan) if (p.temp) rt.release(p.src);
  rt.flush();
  try {
    if (staging) await rt.keepAlive(staging.mapAsync(1 /* GPUMapMode.READ */));
    await rt.keepAlive(rt.pipes.settle());
  } catch (e) {
    staging?.destroy();
    rt.ensureOk();
    throw rt.knownError() ?? e;
  }
  const err = rt.knownError();
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
