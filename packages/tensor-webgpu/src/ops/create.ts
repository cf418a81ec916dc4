/** Tensor factories. Host-side random draws use the seeded Generator (random.ts). */
import type { Backend } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { getBackend } from '../engine.js';
import { Generator } from '../random.js';
import { fmtShape, numel, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { captureUpload } from '../capture/state.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  backend?: Backend;
  name?: string;
}

type Nested = number | readonly Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = (cur as readonly Nested[])[0] ?? 0;
  }
  return shape;
}

function finish(t: Tensor, o: CreateOptions): Tensor {
  if (o.requiresGrad) t.requireGrad();
  if (o.name) t.name = o.name;
  return t;
}

/** A tensor from host data: a typed array or (nested) number array, with an optional shape. */
export function tensor(data: TypedArray | Nested, shape?: Shape, opts: CreateOptions = {}): Tensor {
  const flat: ArrayLike<number> =
    typeof data === 'number' ? [data] : ArrayBuffer.isView(data) ? (data as TypedArray) : (data as readonly Nested[]).flat(Infinity as 1) as number[];
  const sh = shape ?? (typeof data === 'number' ? [] : ArrayBuffer.isView(data) ? [flat.length] : inferShape(data as Nested));
  if (numel(sh) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values do not fill shape ${fmtShape(sh)} (${numel(sh)} elements)`);
  }
  const dtype = opts.dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
  const b = opts.backend ?? getBackend();
  captureUpload(`tensor(${fmtShape(sh)})`);
  return finish(Tensor.fromStorage(b.upload(flat, dtype), sh, dtype), opts);
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'f32';
  const b = opts.backend ?? getBackend();
  return finish(Tensor.fromStorage(b.fill(numel(shape), dtype, value), shape, dtype), opts);
}
export const zeros = (shape: Shape, opts: CreateOptions = {}) => full(shape, 0, opts);
export const ones = (shape: Shape, opts: CreateOptions = {}) => full(shape, 1, opts);
export const zerosLike = (t: Tensor) => full(t.shape, 0, { dtype: t.dtype, backend: t.backend });
export const onesLike = (t: Tensor) => full(t.shape, 1, { dtype: t.dtype, backend: t.backend });

export function arange(n: number, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'i32';
  const a = dtype === 'i32' ? Int32Array.from({ length: n }, (_, i) => i) : Float32Array.from({ length: n }, (_, i) => i);
  return tensor(a, [n], { ...opts, dtype });
}

export interface RandomOptions extends CreateOptions {
  /** Seed for a fresh generator; ignored when `generator` is given. */
  seed?: number;
  generator?: Generator;
}

function draw(shape: Shape, o: RandomOptions, f: (g: Generator) => number): Tensor {
  const g = o.generator ?? new Generator(o.seed ?? 0);
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = f(g);
  return tensor(a, shape, { ...o, dtype: 'f32' });
}

/** Normal(mean, std) draws. */
export function randn(shape: Shape, o: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const mean = o.mean ?? 0;
  const std = o.std ?? 1;
  return draw(shape, o, (g) => mean + std * g.normal());
}

/** Uniform [low, high) draws. */
export function rand(shape: Shape, o: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const lo = o.low ?? 0;
  const hi = o.high ?? 1;
  return draw(shape, o, (g) => lo + (hi - lo) * g.uniform());
}
