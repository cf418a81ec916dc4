/**
 * Storage representation of the cpu backend: one typed array per storage, plus the array
 * constructors for each dtype under the backend's precision.
 */
import type { Backend, Storage } from '../../backend.js';
import { f16BitsToF32, type DType, type TypedArray } from '../../dtype.js';

export type Precision = 'f32' | 'f64';
export type FloatArray = Float32Array | Float64Array;

export class CpuStorage implements Storage {
  readonly size: number;
  released = false;
  constructor(
    readonly backend: Backend,
    readonly dtype: DType,
    readonly data: TypedArray,
  ) {
    this.size = data.length;
  }
}

/** A view resolved to its backing array (validated by the backend before a kernel sees it). */
export interface RView {
  readonly data: TypedArray;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * Free arrays of released storages, kept for the next allocation of the same type and length.
 * A training step allocates the same shapes every step, so after the first step nearly every
 * output array comes from here: fresh multi-megabyte arrays cost page faults, zero-filling and
 * GC work that a reused (already resident) array does not. Bounded by `capBytes`; when over it,
 * the least recently released arrays are dropped to the GC.
 */
export class ArrayPool {
  private readonly buckets = new Map<ArrayCtor, Map<number, TypedArray[]>>();
  /** Insertion order is release order, so the first key is the least recently released array. */
  private readonly lru = new Map<TypedArray, TypedArray[]>();
  /** Bytes held by free arrays. */
  bytes = 0;

  constructor(readonly capBytes: number) {}

  /** A free array of this type and length (contents are whatever was last written), or null. */
  take(ctor: ArrayCtor, n: number): TypedArray | null {
    const list = this.buckets.get(ctor)?.get(n);
    const a = list?.pop();
    if (a === undefined) return null;
    this.lru.delete(a);
    this.bytes -= a.byteLength;
    return a;
  }

  /** Keep `a` for reuse; the caller guarantees nothing reads or writes it any more. */
  give(a: TypedArray): void {
    // Only whole arrays: a subarray would share memory with the array it was cut from.
    if (a.length === 0 || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.byteLength > this.capBytes) return;
    // Two storages wrapping one array would hand it out twice; fail loudly instead.
    if (this.lru.has(a)) throw new Error('cpu backend: array returned to the pool twice (two storages share it)');
    const ctor = a.constructor as ArrayCtor;
    let byLen = this.buckets.get(ctor);
    if (!byLen) this.buckets.set(ctor, (byLen = new Map()));
    let list = byLen.get(a.length);
    if (!list) byLen.set(a.length, (list = []));
    list.push(a);
    this.lru.set(a, list);
    this.bytes += a.byteLength;
    while (this.bytes > this.capBytes) {
      const [old, oldList] = this.lru.entries().next().value as [TypedArray, TypedArray[]];
      // The globally oldest array is also the oldest of its own bucket.
      oldList.shift();
      this.lru.delete(old);
      this.bytes -= old.byteLength;
    }
  }

  clear(): void {
    this.buckets.clear();
    this.lru.clear();
    this.bytes = 0;
  }
}

type ArrayCtor = new (n: number) => TypedArray;

/**
 * The pool of the cpu backend whose kernel is running. Kernels are synchronous and the backend
 * sets this before each one, so the kernel files allocate through the functions below without
 * every kernel signature carrying the pool.
 */
let active: ArrayPool | null = null;

export function setActivePool(p: ArrayPool | null): void {
  active = p;
}

function ctorOf(precision: Precision, dtype: DType): ArrayCtor {
  if (dtype === 'i32') return Int32Array;
  if (dtype === 'f16') return Uint16Array;
  return precision === 'f64' ? Float64Array : Float32Array;
}

/**
 * An array whose contents are unspecified (possibly a reused one holding old values): only for
 * callers that write every element before anything reads it.
 */
export function uninitArray(precision: Precision, dtype: DType, n: number): TypedArray {
  const ctor = ctorOf(precision, dtype);
  return active?.take(ctor, n) ?? new ctor(n);
}

export function uninitFloat(precision: Precision, n: number): FloatArray {
  return uninitArray(precision, 'f32', n) as FloatArray;
}

/** A Float64Array scratch buffer with unspecified contents; hand it back with `recycle` when done. */
export function scratchF64(n: number): Float64Array {
  return (active?.take(Float64Array, n) ?? new Float64Array(n)) as Float64Array;
}

/** Return a kernel's own temporary array to the pool; nothing may hold it or a view of it afterwards. */
export function recycle(a: TypedArray): void {
  active?.give(a);
}

/** A zero-filled array, for kernels that accumulate into their output or leave parts of it unwritten. */
export function newArray(precision: Precision, dtype: DType, n: number): TypedArray {
  const ctor = ctorOf(precision, dtype);
  const a = active?.take(ctor, n);
  if (a === undefined || a === null) return new ctor(n);
  a.fill(0);
  return a;
}

export function newFloat(precision: Precision, n: number): FloatArray {
  return newArray(precision, 'f32', n) as FloatArray;
}

/** Bytes a storage occupies; f32 storages take 8 bytes per element in f64 precision. */
export function storageBytes(precision: Precision, dtype: DType, n: number): number {
  if (dtype === 'f16') return 2 * n;
  if (dtype === 'f32' && precision === 'f64') return 8 * n;
  return 4 * n;
}

let f16Table: Float32Array | null = null;
/** Every half value is exact in f32, so a 256 KiB table replaces the bit-twiddling decode. */
export function f16Lut(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}
