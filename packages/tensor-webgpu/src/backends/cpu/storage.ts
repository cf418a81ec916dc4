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

export function newFloat(precision: Precision, n: number): FloatArray {
  return precision === 'f64' ? new Float64Array(n) : new Float32Array(n);
}

export function newArray(precision: Precision, dtype: DType, n: number): TypedArray {
  if (dtype === 'i32') return new Int32Array(n);
  if (dtype === 'f16') return new Uint16Array(n);
  return newFloat(precision, n);
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
